/**
 * The latest published `agni bench sweep` (GET /v1/bench/sweeps/latest): per metric, box plots by
 * mode across concurrency levels (uPlot's axes and legend; the boxes drawn in its draw hook) and
 * the medians with their ratio to the bare host. Agni's phases fold away below the function's own.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import uPlot from 'uplot';
import { fmt } from '../../../src/bench/sweep-report.js';
import type { SweepCell, SweepSummary } from '../../../src/bench/sweep-summary.js';
import { api } from '../api.js';
import { formatTime } from '../format.js';
import { usePoll } from '../poll.js';
import { ErrorBox } from '../widgets.js';

interface Latest {
  sweep: { id: string; function: string; createdAt: number; summary: SweepSummary } | null;
}

const COLORS = ['#444444', '#1f77b4', '#d62728', '#ff7f0e', '#2ca02c', '#9467bd', '#8c564b', '#e377c2'];
const colorOf = (s: SweepSummary, mode: string) => COLORS[s.modes.indexOf(mode) % COLORS.length]!;

function BoxChart(p: { s: SweepSummary; metric: string }) {
  const el = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const { s, metric } = p;
    const cells = s.cells.filter((c) => c.metric === metric);
    const modes = s.modes.filter((m) => cells.some((c) => c.mode === m));
    const L = s.levels;
    const lo = Math.min(0, ...cells.map((c) => c.min));
    const hi = Math.max(...cells.map((c) => c.max), lo + 1e-9);
    const cell = (m: string, level: number): SweepCell | undefined =>
      cells.find((c) => c.mode === m && c.concurrency === level);
    // a box's center: its level's slot, split between the modes
    const offset = (mi: number) => (mi - (modes.length - 1) / 2) * (0.8 / Math.max(1, modes.length));
    const drawBoxes = (u: uPlot) => {
      const ctx = u.ctx;
      const slot = Math.abs(u.valToPos(1, 'x', true) - u.valToPos(0, 'x', true));
      const w = Math.max(3, (slot * 0.8) / Math.max(1, modes.length) - 4 * devicePixelRatio);
      ctx.save();
      modes.forEach((m, mi) => {
        const color = colorOf(s, m);
        L.forEach((level, li) => {
          const c = cell(m, level);
          if (!c) return;
          const x = u.valToPos(li + offset(mi), 'x', true);
          const y = (v: number) => u.valToPos(v, 'y', true);
          ctx.strokeStyle = color;
          ctx.lineWidth = devicePixelRatio;
          ctx.beginPath();
          ctx.moveTo(x, y(c.max));
          ctx.lineTo(x, y(c.min));
          ctx.stroke();
          ctx.fillStyle = `${color}40`;
          ctx.fillRect(x - w / 2, y(c.q3), w, Math.max(1, y(c.q1) - y(c.q3)));
          ctx.strokeRect(x - w / 2, y(c.q3), w, Math.max(1, y(c.q1) - y(c.q3)));
          ctx.lineWidth = 2 * devicePixelRatio;
          ctx.beginPath();
          ctx.moveTo(x - w / 2, y(c.median));
          ctx.lineTo(x + w / 2, y(c.median));
          ctx.stroke();
        });
      });
      ctx.restore();
    };
    const chart = new uPlot(
      {
        width: Math.min(1120, Math.max(480, 120 + L.length * (modes.length * 28 + 40))),
        height: 260,
        legend: { show: true, live: false },
        cursor: { show: false },
        scales: {
          x: { time: false, range: [-0.6, L.length - 0.4] },
          y: { range: [lo, hi + (hi - lo) * 0.05] },
        },
        axes: [
          {
            label: 'concurrency',
            splits: () => L.map((_, i) => i),
            values: (_u, t) => t.map((i) => String(L[i] ?? '')),
            grid: { show: false },
          },
          { label: metric, values: (_u, t) => t.map((v) => fmt(v)), size: 70 },
        ],
        // one series per mode: the legend (the boxes are drawn by the hook, not as paths)
        series: [
          {},
          ...modes.map((m) => ({
            label: m,
            stroke: colorOf(s, m),
            fill: `${colorOf(s, m)}40`,
            paths: () => null,
            points: { show: false },
          })),
        ],
        hooks: { draw: [drawBoxes] },
      },
      [L.map((_, i) => i), ...modes.map((m) => L.map((level) => cell(m, level)?.median ?? null))],
      el.current!,
    );
    return () => chart.destroy();
  }, [p.s, p.metric]);
  return <div ref={el} class="chart" data-chart={`sweep-${p.metric}`} />;
}

function MedianTable(p: { s: SweepSummary; metric: string }) {
  const cells = p.s.cells.filter((c) => c.metric === p.metric);
  const modes = p.s.modes.filter((m) => cells.some((c) => c.mode === m));
  return (
    <table class="sweep-table" data-table={`sweep-${p.metric}`}>
      <thead>
        <tr>
          <th>concurrency</th>
          {modes.map((m) => (
            <th key={m}>{m}</th>
          ))}
        </tr>
      </thead>
      <tbody>
        {p.s.levels.map((level) => (
          <tr key={level}>
            <td>{level}</td>
            {modes.map((m) => {
              const c = cells.find((x) => x.mode === m && x.concurrency === level);
              return (
                <td key={m} data-mode={m}>
                  {c ? `${fmt(c.median)} / ${fmt(c.p90)}` : '–'}
                  {c && m !== 'host' && c.ratio_to_host !== null && (
                    <span class="muted"> ×{c.ratio_to_host.toFixed(2)}</span>
                  )}
                  {c && c.failed > 0 && <span class="status status-failed">{c.failed} failed</span>}
                </td>
              );
            })}
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function Metric(p: { s: SweepSummary; metric: string }) {
  return (
    <figure>
      <figcaption>
        {p.metric}{' '}
        <span class="muted">box: quartiles and median, whiskers: min–max; table: median / p90 ×host</span>
      </figcaption>
      <BoxChart s={p.s} metric={p.metric} />
      <MedianTable s={p.s} metric={p.metric} />
    </figure>
  );
}

export function SweepResults() {
  const { data, error } = usePoll(() => api<Latest>('/v1/bench/sweeps/latest'), [], 0);
  const [phasesOpen, setPhasesOpen] = useState(false);
  if (error) return <ErrorBox error={error} />;
  if (!data) return null;
  if (!data.sweep)
    return (
      <p class="muted" data-bench="sweep-none">
        No sweep published yet: `agni bench sweep DIR --publish` sends its summary here.
      </p>
    );
  const s = data.sweep.summary;
  const own = s.metrics.filter((m) => m !== 'agni_ms' && !m.startsWith('phase_'));
  const phases = s.metrics.filter((m) => m === 'agni_ms' || m.startsWith('phase_'));
  return (
    <article class="bench" data-bench="sweep">
      <h3>
        agni bench sweep {s.function}{' '}
        <span class="muted">
          {s.n} replicates per mode and level · {formatTime(Date.parse(s.date))}
        </span>
      </h3>
      {s.notes.length > 0 && (
        <ul class="muted">
          {s.notes.map((n) => (
            <li key={n}>{n}</li>
          ))}
        </ul>
      )}
      {own.map((m) => (
        <Metric key={m} s={s} metric={m} />
      ))}
      {phases.length > 0 && (
        <details
          class="raw"
          data-sweep-phases
          onToggle={(e) => setPhasesOpen((e.currentTarget as HTMLDetailsElement).open)}
        >
          <summary>Agni's phases ({phases.length})</summary>
          {phasesOpen && phases.map((m) => <Metric key={m} s={s} metric={m} />)}
        </details>
      )}
    </article>
  );
}
