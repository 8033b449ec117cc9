/**
 * One SVG chart per sweep metric: box plots by mode, grouped by concurrency level. The box is the
 * interquartile range, the bar in it the median, the whiskers min and max. Plain SVG with its own
 * white background and fonts, so it reads the same in a browser and in a README. Pure.
 */
import { fmt } from './sweep-report.js';
import type { SweepSummary } from './sweep-summary.js';

const COLORS = ['#444444', '#1f77b4', '#d62728', '#ff7f0e', '#2ca02c', '#9467bd', '#8c564b', '#e377c2'];

const esc = (s: string) =>
  s.replaceAll('&', '&amp;').replaceAll('<', '&lt;').replaceAll('>', '&gt;').replaceAll('"', '&quot;');

/** "nice" tick step for a range, 1/2/5 × 10^k */
function step(range: number, ticks = 5): number {
  const raw = range / ticks;
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

/** an axis tick: as many digits as the step needs, no trailing zeros */
const tick = (v: number) => String(Number(v.toPrecision(6)));

export function sweepSvg(s: SweepSummary, metric: string): string {
  const cells = s.cells.filter((c) => c.metric === metric);
  const modes = s.modes.filter((m) => cells.some((c) => c.mode === m));
  const W = Math.max(520, 110 + s.levels.length * (modes.length * 26 + 30));
  const H = 360;
  const left = 70;
  const top = 48;
  const pw = W - left - 20;
  const ph = 230;
  let lo = Math.min(0, ...cells.map((c) => c.min));
  let hi = Math.max(...cells.map((c) => c.max), lo + 1e-9);
  const st = step(hi - lo);
  lo = Math.floor(lo / st) * st;
  hi = Math.ceil(hi / st) * st;
  if (hi === lo) hi = lo + st;
  const py = (v: number) => top + ph - ((v - lo) / (hi - lo)) * ph;
  const groupW = pw / Math.max(1, s.levels.length);
  const boxW = Math.min(22, (groupW - 16) / Math.max(1, modes.length));
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="20" text-anchor="middle" font-size="14" font-weight="bold">${esc(`${s.function}: ${metric}`)}</text>`,
    `<text x="${W / 2}" y="36" text-anchor="middle" font-size="11" fill="#555">box: quartiles and median; whiskers: min and max; ${s.n} replicates per box</text>`,
  ];
  for (let v = lo; v <= hi + st / 2; v += st) {
    out.push(
      `<line x1="${left}" y1="${py(v).toFixed(1)}" x2="${left + pw}" y2="${py(v).toFixed(1)}" stroke="#eee"/>`,
    );
    out.push(
      `<text x="${left - 6}" y="${(py(v) + 4).toFixed(1)}" text-anchor="end" font-size="11">${tick(Math.abs(v) < st / 1e6 ? 0 : v)}</text>`,
    );
  }
  out.push(`<line x1="${left}" y1="${top + ph}" x2="${left + pw}" y2="${top + ph}" stroke="#333"/>`);
  out.push(`<line x1="${left}" y1="${top}" x2="${left}" y2="${top + ph}" stroke="#333"/>`);
  out.push(
    `<text x="${left - 52}" y="${top + ph / 2}" text-anchor="middle" transform="rotate(-90 ${left - 52} ${top + ph / 2})">${esc(metric)}</text>`,
  );
  s.levels.forEach((c, gi) => {
    const gx = left + gi * groupW + groupW / 2;
    out.push(`<text x="${gx}" y="${top + ph + 16}" text-anchor="middle" font-size="11">${c}</text>`);
    modes.forEach((m, mi) => {
      const cell = cells.find((x) => x.mode === m && x.concurrency === c);
      if (!cell) return;
      const color = COLORS[s.modes.indexOf(m) % COLORS.length]!;
      const x = gx - (modes.length * boxW) / 2 + mi * boxW + 2;
      const w = boxW - 4;
      const cx = (x + w / 2).toFixed(1);
      out.push(
        `<g data-mode="${esc(m)}" data-concurrency="${c}"><title>${esc(`${m} @${c}: median ${fmt(cell.median)}, p90 ${fmt(cell.p90)}, n ${cell.n}`)}</title>`,
        `<line x1="${cx}" y1="${py(cell.max).toFixed(1)}" x2="${cx}" y2="${py(cell.min).toFixed(1)}" stroke="${color}"/>`,
        `<rect x="${x.toFixed(1)}" y="${py(cell.q3).toFixed(1)}" width="${w.toFixed(1)}" height="${Math.max(1, py(cell.q1) - py(cell.q3)).toFixed(1)}" fill="${color}" fill-opacity="0.25" stroke="${color}"/>`,
        `<line x1="${x.toFixed(1)}" y1="${py(cell.median).toFixed(1)}" x2="${(x + w).toFixed(1)}" y2="${py(cell.median).toFixed(1)}" stroke="${color}" stroke-width="2"/>`,
        '</g>',
      );
    });
  });
  out.push(`<text x="${left + pw / 2}" y="${top + ph + 34}" text-anchor="middle">concurrency</text>`);
  let lx = left;
  for (const m of modes) {
    const color = COLORS[s.modes.indexOf(m) % COLORS.length]!;
    out.push(
      `<rect x="${lx}" y="${H - 28}" width="12" height="12" fill="${color}" fill-opacity="0.25" stroke="${color}"/>`,
      `<text x="${lx + 16}" y="${H - 18}">${esc(m)}</text>`,
    );
    lx += 28 + m.length * 7;
  }
  out.push('</svg>', '');
  return out.join('\n');
}

/** a metric name as a file name: metric.svg, other characters as _ */
export const svgFileName = (metric: string) => `${metric.replace(/[^A-Za-z0-9_.-]/g, '_')}.svg`;
