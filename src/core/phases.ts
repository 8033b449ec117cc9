/**
 * The phases every invocation is stamped with, on one monotonic clock (performance.now plus
 * the process's time origin, so stamps are comparable to wall time but never go backwards).
 */
import { formatMs } from './units.js';

export const PHASES = [
  'received',
  'queued',
  'placed',
  /** cluster mode: the call reached its node; placed → dispatched is the time crossing to it */
  'dispatched',
  'sandbox_ready',
  'started',
  'first_byte',
  'finished',
] as const;
export type Phase = (typeof PHASES)[number];
export type PhaseTimes = Partial<Record<Phase, number>>;

export function stamp(): number {
  return performance.timeOrigin + performance.now();
}

/** Durations between consecutive phases that were reached; first_byte may be missing (no output). */
export function phaseDurations(t: PhaseTimes): { phase: Phase; atMs: number; durationMs: number }[] {
  const start = t.received;
  if (start === undefined) return [];
  const reached = PHASES.filter((p) => t[p] !== undefined);
  return reached.map((p, i) => {
    const at = t[p]! - start;
    const next = reached[i + 1];
    return { phase: p, atMs: at, durationMs: next === undefined ? 0 : t[next]! - t[p]! };
  });
}

export function totalMs(t: PhaseTimes): number | undefined {
  return t.received !== undefined && t.finished !== undefined ? t.finished - t.received : undefined;
}

/** A text waterfall: one bar per phase, scaled to `width` columns over the whole invocation. */
export function renderWaterfall(t: PhaseTimes, width = 50): string {
  const rows = phaseDurations(t);
  const total = totalMs(t) ?? rows.at(-1)?.atMs ?? 0;
  const scale = total > 0 ? width / total : 0;
  const lines = rows.map(({ phase, atMs, durationMs }) => {
    const offset = Math.min(width, Math.round(atMs * scale));
    const len = durationMs > 0 ? Math.max(1, Math.round(durationMs * scale)) : 0;
    const bar = `${' '.repeat(offset)}${'█'.repeat(Math.min(len, width - offset))}`.padEnd(width);
    return `${phase.padEnd(14)} +${formatMs(atMs).padStart(9)} |${bar}| ${durationMs > 0 ? formatMs(durationMs) : ''}`;
  });
  if (total > 0) lines.push(`${'total'.padEnd(14)}  ${formatMs(total).padStart(9)}`);
  return lines.join('\n');
}
