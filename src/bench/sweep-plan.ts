/**
 * The order a sweep runs in. For each concurrency level, rounds over the modes: a round runs one
 * batch of `concurrency` replicates at once per mode, and each round starts with the next mode,
 * so slow drift (thermal, other tenants) and order effects hit every column alike. Replicates
 * already in the CSV (`--resume`) are left out. Pure.
 */
import { cellKey } from './sweep-csv.js';

export interface Batch {
  mode: string;
  concurrency: number;
  /** 1-based replicate numbers, run at the same time */
  replicates: number[];
}

export function planSweep(
  levels: readonly number[],
  modes: readonly string[],
  n: number,
  done: ReadonlySet<string> = new Set(),
): Batch[] {
  const out: Batch[] = [];
  for (const c of levels) {
    const chunks = modes.map((mode) => {
      const todo: number[] = [];
      for (let r = 1; r <= n; r++) if (!done.has(cellKey(mode, c, r))) todo.push(r);
      const cs: number[][] = [];
      for (let i = 0; i < todo.length; i += c) cs.push(todo.slice(i, i + c));
      return cs;
    });
    const rounds = Math.max(0, ...chunks.map((cs) => cs.length));
    for (let k = 0; k < rounds; k++) {
      for (let i = 0; i < modes.length; i++) {
        const m = (i + k) % modes.length;
        const reps = chunks[m]![k];
        if (reps) out.push({ mode: modes[m]!, concurrency: c, replicates: reps });
      }
    }
  }
  return out;
}

/** Replicates planned, for a progress bar's total. */
export const plannedReplicates = (plan: readonly Batch[]) =>
  plan.reduce((a, b) => a + b.replicates.length, 0);
