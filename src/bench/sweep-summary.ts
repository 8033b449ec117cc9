/**
 * The JSON summary of a sweep: for every metric (wall_ms, the function's own, Agni's phases),
 * mode and concurrency level, the distribution of its successful replicates and the ratio of its
 * median to the bare host's at the same level. Pure: rows in, summary out.
 */

import { quantile } from './stats.js';
import { PHASE_COLUMNS, type SweepRow } from './sweep-csv.js';

/** modes that run outside Agni: the ratios' reference and its container counterpart */
export const BASELINE_MODES = ['host', 'docker'] as const;

export interface SweepCell {
  metric: string;
  mode: string;
  concurrency: number;
  /** successful replicates with this metric */
  n: number;
  /** replicates of the cell that did not succeed (all metrics of the cell share it) */
  failed: number;
  median: number;
  p90: number;
  q1: number;
  q3: number;
  min: number;
  max: number;
  mean: number;
  /** median / the host's median at the same level; null without a host value (or a zero one) */
  ratio_to_host: number | null;
}

export interface SweepSummary {
  kind: 'agni-bench-sweep';
  function: string;
  date: string;
  /** replicates per mode and level asked for */
  n: number;
  levels: number[];
  modes: string[];
  /** wall_ms, then the function's metrics, then Agni's phases (those with any value) */
  metrics: string[];
  cells: SweepCell[];
  /** why a mode asked for did not run (no Docker engine…) */
  notes: string[];
}

export interface SummaryInput {
  function: string;
  n: number;
  levels: number[];
  modes: string[];
  metricCols: string[];
  notes: string[];
  date?: Date;
}

function valuesOf(r: SweepRow, metric: string): number | undefined {
  if (metric === 'wall_ms') return r.wall_ms;
  return r.metrics[metric] ?? r.phases[metric];
}

export function summarizeSweep(rows: readonly SweepRow[], o: SummaryInput): SweepSummary {
  const planned = new Set(o.modes);
  const inPlan = rows.filter(
    (r) => planned.has(r.mode) && o.levels.includes(r.concurrency) && r.replicate <= o.n,
  );
  const metrics = ['wall_ms', ...o.metricCols, ...PHASE_COLUMNS].filter(
    (m) => m === 'wall_ms' || inPlan.some((r) => valuesOf(r, m) !== undefined),
  );
  const cells: SweepCell[] = [];
  for (const metric of metrics) {
    const hostMedian = new Map<number, number>();
    const group: SweepCell[] = [];
    for (const mode of o.modes) {
      for (const c of o.levels) {
        const cellRows = inPlan.filter((r) => r.mode === mode && r.concurrency === c);
        const ok = cellRows.filter((r) => r.status === 'ok');
        const v = ok
          .map((r) => valuesOf(r, metric))
          .filter((x): x is number => x !== undefined)
          .sort((a, b) => a - b);
        if (v.length === 0) continue;
        const median = quantile(v, 0.5);
        if (mode === 'host') hostMedian.set(c, median);
        group.push({
          metric,
          mode,
          concurrency: c,
          n: v.length,
          failed: cellRows.length - ok.length,
          median,
          p90: quantile(v, 0.9),
          q1: quantile(v, 0.25),
          q3: quantile(v, 0.75),
          min: v[0]!,
          max: v.at(-1)!,
          mean: v.reduce((a, b) => a + b, 0) / v.length,
          ratio_to_host: null,
        });
      }
    }
    for (const cell of group) {
      const h = hostMedian.get(cell.concurrency);
      cell.ratio_to_host = h !== undefined && h !== 0 ? cell.median / h : null;
    }
    cells.push(...group);
  }
  return {
    kind: 'agni-bench-sweep',
    function: o.function,
    date: (o.date ?? new Date()).toISOString(),
    n: o.n,
    levels: [...o.levels],
    modes: [...o.modes],
    metrics,
    cells,
    notes: [...o.notes],
  };
}
