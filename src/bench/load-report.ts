/** Pure rendering of `agni bench load` results: table, CSV and an SVG chart. */
import { formatMs } from '../core/units.js';
import type { Summary } from './stats.js';

export interface LoadLevel {
  concurrency: number;
  requests: number;
  ok: number;
  refused: number;
  failed: number;
  seconds: number;
  throughput: number;
  latency: Summary & { p99: number };
}

export function loadTable(levels: LoadLevel[]): string {
  const head = ['conc', 'req/s', 'ok', '429', 'failed', 'p50', 'p90', 'p99', 'max'];
  const rows = levels.map((l) => [
    String(l.concurrency),
    l.throughput.toFixed(1),
    String(l.ok),
    String(l.refused),
    String(l.failed),
    formatMs(l.latency.median),
    formatMs(l.latency.p90),
    formatMs(l.latency.p99),
    formatMs(l.latency.max),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows].map((r) => r.map((c, i) => c.padStart(widths[i]!)).join('  ')).join('\n');
}

export function loadCsv(levels: LoadLevel[]): string {
  const lines = ['concurrency,requests,ok,refused,failed,seconds,throughput_rps,p50_ms,p90_ms,p99_ms,max_ms'];
  for (const l of levels) {
    lines.push(
      [
        l.concurrency,
        l.requests,
        l.ok,
        l.refused,
        l.failed,
        l.seconds.toFixed(3),
        l.throughput.toFixed(2),
        l.latency.median.toFixed(3),
        l.latency.p90.toFixed(3),
        l.latency.p99.toFixed(3),
        l.latency.max.toFixed(3),
      ].join(','),
    );
  }
  return `${lines.join('\n')}\n`;
}

function esc(s: string): string {
  return s.replace(/[<>&"]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;' })[c]!);
}

/** Two panels side by side: throughput, and p50/p90 latency, against concurrency. */
export function loadSvg(levels: LoadLevel[], title: string): string {
  const W = 900;
  const H = 380;
  const panel = (
    x0: number,
    label: string,
    series: { name: string; color: string; values: number[] }[],
    unit: string,
  ) => {
    const pw = 380;
    const ph = 260;
    const y0 = 60;
    const xs = levels.map((l) => l.concurrency);
    const xmax = Math.max(...xs, 1);
    const ymax = Math.max(...series.flatMap((s) => s.values), 1e-9) * 1.1;
    const px = (x: number) => x0 + (x / xmax) * pw;
    const py = (y: number) => y0 + ph - (y / ymax) * ph;
    const out = [
      `<text x="${x0 + pw / 2}" y="${y0 - 12}" text-anchor="middle" font-weight="bold">${esc(label)}</text>`,
      `<line x1="${x0}" y1="${y0 + ph}" x2="${x0 + pw}" y2="${y0 + ph}" stroke="#333"/>`,
      `<line x1="${x0}" y1="${y0}" x2="${x0}" y2="${y0 + ph}" stroke="#333"/>`,
    ];
    for (let i = 0; i <= 4; i++) {
      const v = (ymax * i) / 4;
      out.push(
        `<text x="${x0 - 6}" y="${py(v) + 4}" text-anchor="end" font-size="11">${v >= 100 ? v.toFixed(0) : v.toFixed(1)}</text>`,
      );
      out.push(`<line x1="${x0}" y1="${py(v)}" x2="${x0 + pw}" y2="${py(v)}" stroke="#eee"/>`);
    }
    for (const x of xs)
      out.push(`<text x="${px(x)}" y="${y0 + ph + 16}" text-anchor="middle" font-size="11">${x}</text>`);
    out.push(
      `<text x="${x0 + pw / 2}" y="${y0 + ph + 34}" text-anchor="middle" font-size="12">concurrency</text>`,
    );
    out.push(
      `<text x="${x0 - 40}" y="${y0 + ph / 2}" text-anchor="middle" font-size="12" transform="rotate(-90 ${x0 - 40} ${y0 + ph / 2})">${esc(unit)}</text>`,
    );
    series.forEach((s, k) => {
      const pts = s.values.map((v, i) => `${px(xs[i]!).toFixed(1)},${py(v).toFixed(1)}`).join(' ');
      out.push(`<polyline fill="none" stroke="${s.color}" stroke-width="2" points="${pts}"/>`);
      for (const p of pts.split(' ')) {
        const [cx, cy] = p.split(',');
        out.push(`<circle cx="${cx}" cy="${cy}" r="3" fill="${s.color}"/>`);
      }
      out.push(
        `<text x="${x0 + 8}" y="${y0 + 14 + 14 * k}" font-size="11" fill="${s.color}">${esc(s.name)}</text>`,
      );
    });
    return out.join('\n');
  };
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">${esc(title)}</text>`,
    panel(
      70,
      'throughput',
      [{ name: 'req/s', color: '#1f77b4', values: levels.map((l) => l.throughput) }],
      'requests per second',
    ),
    panel(
      510,
      'latency',
      [
        { name: 'p50', color: '#2ca02c', values: levels.map((l) => l.latency.median) },
        { name: 'p90', color: '#d62728', values: levels.map((l) => l.latency.p90) },
      ],
      'milliseconds',
    ),
    '</svg>',
    '',
  ].join('\n');
}

/** Parses `1,2,3,5` into a sorted list of distinct positive integers, or an error message. */
export function parseLevels(raw: string): number[] | string {
  const parts = raw
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  const nums = parts.map(Number);
  if (parts.length === 0 || nums.some((n) => !Number.isInteger(n) || n < 1 || n > 1000)) {
    return 'a comma-separated list of whole numbers from 1 to 1000, e.g. 1,2,4,8';
  }
  return [...new Set(nums)].sort((a, b) => a - b);
}

/** Agni beside a ceiling (`name`), level by level: req/s of each and Agni's share of the ceiling. */
export function ceilingTable(agni: LoadLevel[], ceiling: LoadLevel[], name = 'fastify'): string {
  const head = ['conc', 'agni req/s', `${name} req/s`, `agni/${name}`, 'agni p50', `${name} p50`];
  const rows = agni.map((a) => {
    const c = ceiling.find((l) => l.concurrency === a.concurrency);
    return [
      String(a.concurrency),
      a.throughput.toFixed(1),
      c ? c.throughput.toFixed(1) : '-',
      c && c.throughput > 0 ? `${(a.throughput / c.throughput).toFixed(2)}x` : '-',
      formatMs(a.latency.median),
      c ? formatMs(c.latency.median) : '-',
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows].map((r) => r.map((c, i) => c.padStart(widths[i]!)).join('  ')).join('\n');
}
