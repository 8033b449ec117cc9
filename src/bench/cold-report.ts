/** Pure rendering of `agni bench cold`: a table with ratios to every baseline, and CSV. */
import type { Phase } from '../core/phases.js';
import { formatMs } from '../core/units.js';
import type { Summary } from './stats.js';

export interface ColdRow {
  kind: 'mode' | 'baseline';
  name: string;
  label: string;
  unavailable?: string;
  total?: Summary;
  /** per phase: time from the previous phase reached to this one */
  phases?: Partial<Record<Phase, Summary>>;
}

export function ratio(a: number | undefined, b: number | undefined): string {
  if (a === undefined || b === undefined || !Number.isFinite(a) || !Number.isFinite(b) || b <= 0) return '-';
  const r = a / b;
  return r >= 10 ? `${r.toFixed(0)}x` : `${r.toFixed(2)}x`;
}

export function coldTable(rows: ColdRow[]): string {
  const baselines = rows.filter((r) => r.kind === 'baseline' && r.total);
  const head = ['', 'median', 'p90', ...baselines.map((b) => `vs ${b.name}`)];
  const body = rows.map((r) =>
    r.total
      ? [
          r.label,
          formatMs(r.total.median),
          formatMs(r.total.p90),
          ...baselines.map((b) => ratio(r.total?.median, b.total?.median)),
        ]
      : [r.label, 'n/a', '', ...baselines.map(() => '')],
  );
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const lines = [head, ...body].map((r) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '),
  );
  for (const r of rows) if (r.unavailable) lines.push(`  ${r.label}: ${r.unavailable}`);
  return lines.join('\n');
}

export function phaseTable(rows: ColdRow[]): string {
  const modes = rows.filter((r) => r.kind === 'mode' && r.phases);
  if (modes.length === 0) return '';
  const phases = [...new Set(modes.flatMap((m) => Object.keys(m.phases!)))] as Phase[];
  const head = ['phase (median)', ...modes.map((m) => m.name)];
  const body = phases.map((p) => [
    p,
    ...modes.map((m) => (m.phases![p] ? formatMs(m.phases![p]!.median) : '-')),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  return [head, ...body]
    .map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '))
    .join('\n');
}

export function coldCsv(rows: ColdRow[]): string {
  const lines = ['kind,name,median_ms,p90_ms,mean_ms,n'];
  for (const r of rows) {
    if (!r.total) continue;
    lines.push(
      [
        r.kind,
        r.name,
        r.total.median.toFixed(3),
        r.total.p90.toFixed(3),
        r.total.mean.toFixed(3),
        r.total.n,
      ].join(','),
    );
    for (const [p, s] of Object.entries(r.phases ?? {}))
      lines.push(
        ['phase', `${r.name}.${p}`, s.median.toFixed(3), s.p90.toFixed(3), s.mean.toFixed(3), s.n].join(','),
      );
  }
  return `${lines.join('\n')}\n`;
}
