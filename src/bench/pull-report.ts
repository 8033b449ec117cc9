/** Pure rendering of the pull benchmark: medians per image size beside their floors, and ratios. */
import { formatBytes, formatMs } from '../core/units.js';
import type { Summary } from './stats.js';

export const PULL_MEASURES = {
  pull: 'agni pull (download + verify)',
  curl: 'floor: curl → /dev/null (3 at a time)',
  fetch: 'floor: Node fetch → discard (3 at a time)',
  curlSha: 'floor: curl → files, sync, sha256',
  unpack: 'agni unpack (ensureLayer each layer)',
  tar: 'floor: GNU tar -xzf each layer',
  pullUnpack: 'agni pull + unpack',
  floor: 'floor: curl + tar -xzf',
  deploy: 'deploy (server pulls + unpacks)',
  invoke: 'first invoke after deploy',
  firstInvocation: 'time to first invocation',
} as const;

export type PullMeasure = keyof typeof PULL_MEASURES;

export interface PullSizeResult {
  label: string;
  /** what a pull downloads: config plus compressed layers */
  totalBytes: number;
  layers: number;
  runs: number;
  summaries: Partial<Record<PullMeasure, Summary>>;
}

/** ratio name → [numerator, denominator] */
const RATIOS: Record<string, [PullMeasure, PullMeasure]> = {
  'pull / curl': ['pull', 'curl'],
  'pull / Node fetch': ['pull', 'fetch'],
  'pull / curl+sync+sha256': ['pull', 'curlSha'],
  'unpack / tar -xzf': ['unpack', 'tar'],
  'pull+unpack / curl+tar': ['pullUnpack', 'floor'],
  'first invocation / curl+tar': ['firstInvocation', 'floor'],
};

export function pullRatios(r: PullSizeResult): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, [a, b]] of Object.entries(RATIOS)) {
    const x = r.summaries[a]?.median;
    const y = r.summaries[b]?.median;
    if (x !== undefined && y !== undefined && y > 0) out[name] = x / y;
  }
  return out;
}

/** MB/s (10^6 bytes) of a pull's download at its median. */
export function throughputMBps(bytes: number, ms: number): number {
  return bytes / 1e6 / (ms / 1000);
}

/** Rows are measures, columns image sizes; cells are medians, then ratios and pull throughput. */
export function pullTable(results: PullSizeResult[]): string {
  const head = [
    '',
    ...results.map((r) => `${r.label} (${formatBytes(r.totalBytes)}, ${r.layers} layers, n=${r.runs})`),
  ];
  const rows: string[][] = [];
  for (const [key, label] of Object.entries(PULL_MEASURES) as [PullMeasure, string][]) {
    if (!results.some((r) => r.summaries[key])) continue;
    rows.push([label, ...results.map((r) => (r.summaries[key] ? formatMs(r.summaries[key].median) : '-'))]);
  }
  const ratios = results.map(pullRatios);
  for (const name of Object.keys(RATIOS)) {
    if (!ratios.some((x) => x[name] !== undefined)) continue;
    rows.push([name, ...ratios.map((x) => (x[name] === undefined ? '-' : `${x[name].toFixed(2)}x`))]);
  }
  rows.push([
    'pull throughput',
    ...results.map((r) => {
      const ms = r.summaries.pull?.median;
      return ms ? `${throughputMBps(r.totalBytes, ms).toFixed(0)} MB/s` : '-';
    }),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [head, ...rows]
    .map((r) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  '))
    .join('\n');
}
