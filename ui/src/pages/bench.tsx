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
  for (const [k, x] of entries) if (!isSummary(x)) summaryGroups(x, [...path, k], out);
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
            values: (_u, ticks) => ticks.map((t) => (Number.isInteger(t) ? (labels[t] ?? '') : '')),
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

export function BenchPage() {
  const { data, error } = usePoll(
    () => api<{ results: { name: string; result: Record<string, unknown> }[] }>('/v1/bench/latest'),
    [],
    0,
  );
  return (
    <Section title="Benchmarks">
      <ErrorBox error={error} />
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
              {String(r.result.benchmark ?? r.name)}{' '}
              <span class="muted">
                {typeof r.result.date === 'string' ? formatTime(Date.parse(r.result.date)) : ''}
              </span>
            </h3>
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
