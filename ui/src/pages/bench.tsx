/**
 * The latest result of each benchmark (GET /v1/bench/latest) as bar charts of medians and p90s.
 * Bench files differ in shape, so every object of summaries ({label: {median, p90…}}) found in a
 * result becomes one chart; a new benchmark shows up without a change here.
 */
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { api } from '../api.js';
import { formatMs, formatTime } from '../format.js';
import { usePoll } from '../poll.js';
import { ErrorBox, Loading, Section } from '../widgets.js';
import { SweepResults } from './bench-sweep.js';

interface Summary {
  median: number;
  p90?: number;
  mean?: number;
}
interface Group {
  title: string;
  labels: string[];
  rows: Summary[];
}

const isSummary = (v: unknown): v is Summary =>
  typeof v === 'object' && v !== null && typeof (v as Summary).median === 'number';

/** a load sweep's levels: drawn as one line chart, not one bar chart per level */
function isSweep(v: unknown): boolean {
  return Array.isArray(v) && v.length > 0 && v.every(isLevel);
}

/** Every {label: summary} object within `v`, depth-first, titled by its path. */
export function summaryGroups(v: unknown, path: string[] = [], out: Group[] = []): Group[] {
  if (typeof v !== 'object' || v === null || path.length > 4) return out;
  const entries = Array.isArray(v)
    ? v.map((x, i) => [String((x as { label?: string })?.label ?? i), x] as const)
    : Object.entries(v);
  const sums = entries.filter(([, x]) => isSummary(x)) as [string, Summary][];
  if (sums.length > 0)
    out.push({
      title: path.join(' › ') || 'results',
      labels: sums.map(([k]) => k),
      rows: sums.map(([, s]) => s),
    });
  for (const [k, x] of entries) if (!isSummary(x) && !isSweep(x)) summaryGroups(x, [...path, k], out);
  return out;
}

function BarChart(p: { g: Group }) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const { labels, rows } = p.g;
    const x = labels.map((_, i) => i);
    const bars = uPlot.paths.bars!({ size: [0.35, 48], align: 0 });
    const barsRight = uPlot.paths.bars!({ size: [0.35, 48], align: 1 });
    const width = Math.min(1120, Math.max(480, 80 + labels.length * 210));
    const chart = new uPlot(
      {
        width,
        height: 240,
        legend: { show: false },
        cursor: { drag: { x: false, y: false } },
        scales: {
          x: { time: false, range: [-0.6, labels.length - 0.4] },
          y: { range: (_u, _min, max) => [0, max * 1.1] },
        },
        axes: [
          {
            values: (_u, ticks) => ticks.map((t) => labels[t] ?? ''),
            splits: () => x,
            grid: { show: false },
            size: 40,
          },
          { values: (_u, ticks) => ticks.map((t) => (t === 0 ? '0' : formatMs(t))), size: 70 },
        ],
        series: [
          {},
          { label: 'median', fill: '#e8742c', stroke: '#c2571a', paths: bars, points: { show: false } },
          { label: 'p90', fill: '#f4c29f', stroke: '#d9925c', paths: barsRight, points: { show: false } },
        ],
      },
      [x, rows.map((r) => r.median), rows.map((r) => r.p90 ?? null)],
      el.current!,
    );
    return () => chart.destroy();
  }, [p.g]);
  return <div ref={el} class="chart" data-chart={p.g.title} />;
}

/** one level of a load sweep (`agni bench load --json`: {function, durationMs, levels}) */
interface Level {
  concurrency: number;
  throughput: number;
  latency: Summary & { p99?: number };
}

const isLevel = (v: unknown): v is Level =>
  typeof v === 'object' &&
  v !== null &&
  typeof (v as Level).concurrency === 'number' &&
  typeof (v as Level).throughput === 'number' &&
  isSummary((v as Level).latency);

/** The first array of sweep levels within `v` (a load sweep's `levels`), sorted by concurrency. */
export function sweepOf(v: unknown, depth = 0): Level[] | undefined {
  if (typeof v !== 'object' || v === null || depth > 3) return undefined;
  if (isSweep(v)) return [...(v as Level[])].sort((a, b) => a.concurrency - b.concurrency);
  for (const x of Object.values(v)) {
    const found = sweepOf(x, depth + 1);
    if (found) return found;
  }
  return undefined;
}

/** Throughput (left axis) and latency percentiles (right axis) against concurrency. */
function SweepChart(p: { levels: Level[] }) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const L = p.levels;
    const chart = new uPlot(
      {
        width: Math.min(1120, Math.max(560, L.length * 120)),
        height: 260,
        legend: { show: true, live: false },
        cursor: { drag: { x: false, y: false } },
        scales: {
          // concurrency levels usually double: equal steps on a log2 axis
          x: { time: false, distr: 3, log: 2 },
          rps: { range: (_u, _min, max) => [0, max * 1.1] },
          ms: { range: (_u, _min, max) => [0, max * 1.1] },
        },
        axes: [
          {
            label: 'concurrency',
            splits: () => L.map((l) => l.concurrency),
            values: (_u, t) => t.map(String),
          },
          { scale: 'rps', label: 'req/s', values: (_u, t) => t.map((x) => String(+x.toFixed(1))), size: 60 },
          {
            scale: 'ms',
            side: 1,
            label: 'latency',
            values: (_u, t) => t.map((x) => (x === 0 ? '0' : formatMs(x))),
            size: 70,
            grid: { show: false },
          },
        ],
        series: [
          {},
          { label: 'req/s', scale: 'rps', stroke: '#c2571a', width: 2 },
          { label: 'p50', scale: 'ms', stroke: '#4c84d1', width: 1.5 },
          { label: 'p90', scale: 'ms', stroke: '#7aa3dd', width: 1.5, dash: [6, 3] },
          { label: 'p99', scale: 'ms', stroke: '#a8c1e8', width: 1.5, dash: [2, 3] },
        ],
      },
      [
        L.map((l) => l.concurrency),
        L.map((l) => l.throughput),
        L.map((l) => l.latency.median),
        L.map((l) => l.latency.p90 ?? null),
        L.map((l) => l.latency.p99 ?? null),
      ],
      el.current!,
    );
    return () => chart.destroy();
  }, [p.levels]);
  return <div ref={el} class="chart" data-chart="sweep" />;
}

export function BenchPage() {
  const { data, error } = usePoll(
    () => api<{ results: { name: string; result: Record<string, unknown> }[] }>('/v1/bench/latest'),
    [],
    0,
  );
  return (
    <Section title="Benchmarks">
      <ErrorBox error={error} />
      <SweepResults />
      {!data ? (
        <Loading what="results" />
      ) : data.results.length === 0 ? (
        <p class="muted">
          No results yet: `npm run bench` (or bench:map, bench:pull) writes bench/results/*-latest.json.
        </p>
      ) : (
        data.results.map((r) => (
          <article key={r.name} class="bench" data-bench={r.name}>
            <h3>
              {String(r.result.benchmark ?? (r.result.function ? `${r.name} ${r.result.function}` : r.name))}{' '}
              <span class="muted">
                {typeof r.result.date === 'string' ? formatTime(Date.parse(r.result.date)) : ''}
              </span>
            </h3>
            {(() => {
              const levels = sweepOf(r.result);
              return (
                levels && (
                  <figure>
                    <figcaption>throughput and latency by concurrency</figcaption>
                    <SweepChart levels={levels} />
                  </figure>
                )
              );
            })()}
            {summaryGroups(r.result).map((g) => (
              <figure key={g.title}>
                <figcaption>
                  {g.title} <span class="key median">median</span> <span class="key p90">p90</span>
                </figcaption>
                <BarChart g={g} />
              </figure>
            ))}
          </article>
        ))
      )}
    </Section>
  );
}
