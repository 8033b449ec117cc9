/**
 * The sweep's tidy CSV: one row per replicate (mode, concurrency, replicate, wall_ms, status, the
 * function's metrics, Agni's phases). It is also the sweep's checkpoint: `--resume` reads it back,
 * so parsing checks the header and drops a torn last line. Pure.
 */
import { PHASES } from '../core/phases.js';

export const FIXED_COLUMNS = ['mode', 'concurrency', 'replicate', 'wall_ms', 'status'] as const;
/** each phase's time since the previous phase reached (empty for baselines and unreached phases) */
export const PHASE_COLUMNS = ['agni_ms', ...PHASES.slice(1).map((p) => `phase_${p}_ms`)];

export interface SweepRow {
  mode: string;
  concurrency: number;
  /** 1-based within its (mode, concurrency) cell */
  replicate: number;
  /** request sent to response read (invocations), spawn to exit (baselines) */
  wall_ms: number;
  /** ok, failed, timeout… as the invocation record (or the baseline's exit) says */
  status: string;
  metrics: Record<string, number>;
  /** PHASE_COLUMNS present for this row */
  phases: Record<string, number>;
}

export const cellKey = (mode: string, concurrency: number, replicate: number) =>
  `${mode}/${concurrency}/${replicate}`;

function field(v: string | number | undefined): string {
  if (v === undefined) return '';
  const s = typeof v === 'number' ? String(Math.round(v * 1e6) / 1e6) : v;
  return /[",\n\r]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

export function csvHeader(metricCols: readonly string[]): string {
  return `${[...FIXED_COLUMNS, ...metricCols, ...PHASE_COLUMNS].join(',')}\n`;
}

export function csvRow(r: SweepRow, metricCols: readonly string[]): string {
  return `${[
    field(r.mode),
    field(r.concurrency),
    field(r.replicate),
    field(r.wall_ms),
    field(r.status),
    ...metricCols.map((c) => field(r.metrics[c])),
    ...PHASE_COLUMNS.map((c) => field(r.phases[c])),
  ].join(',')}\n`;
}

/** The metric columns of `rows`, in order of first appearance after those already known. */
export function metricColumns(rows: readonly SweepRow[], known: readonly string[] = []): string[] {
  const out = [...known];
  for (const r of rows) for (const k of Object.keys(r.metrics)) if (!out.includes(k)) out.push(k);
  return out;
}

export function sweepCsv(rows: readonly SweepRow[], metricCols = metricColumns(rows)): string {
  return csvHeader(metricCols) + rows.map((r) => csvRow(r, metricCols)).join('');
}

/** RFC 4180 fields of one line (quotes doubled inside quoted fields); no embedded newlines here. */
function splitLine(line: string): string[] {
  const out: string[] = [];
  let cur = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]!;
    if (quoted) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"';
        i++;
      } else if (ch === '"') quoted = false;
      else cur += ch;
    } else if (ch === '"') quoted = true;
    else if (ch === ',') {
      out.push(cur);
      cur = '';
    } else cur += ch;
  }
  out.push(cur);
  return out;
}

export interface ParsedSweepCsv {
  metricCols: string[];
  rows: SweepRow[];
  /** a last line without its newline (the sweep was killed while writing it): not a row */
  torn: boolean;
}

/** Reads a sweep CSV back; a string says what is wrong with its header or which line is bad. */
export function parseSweepCsv(text: string): ParsedSweepCsv | string {
  const lines = text.split('\n');
  const torn = lines.at(-1) !== '';
  if (torn) lines.pop();
  else lines.pop(); // the empty string after the final newline
  const header = lines.shift();
  if (header === undefined) return 'no header line';
  const cols = splitLine(header);
  const fixed = cols.slice(0, FIXED_COLUMNS.length);
  const phases = cols.slice(cols.length - PHASE_COLUMNS.length);
  if (
    cols.length < FIXED_COLUMNS.length + PHASE_COLUMNS.length ||
    fixed.join(',') !== FIXED_COLUMNS.join(',') ||
    phases.join(',') !== PHASE_COLUMNS.join(',')
  )
    return `the header is not a sweep's: expected ${FIXED_COLUMNS.join(',')},<metrics>,${PHASE_COLUMNS.join(',')}`;
  const metricCols = cols.slice(FIXED_COLUMNS.length, cols.length - PHASE_COLUMNS.length);
  const rows: SweepRow[] = [];
  for (const [i, line] of lines.entries()) {
    if (line === '') continue;
    const f = splitLine(line);
    const num = (s: string | undefined) => (s === undefined || s === '' ? undefined : Number(s));
    const concurrency = num(f[1]);
    const replicate = num(f[2]);
    const wall = num(f[3]);
    if (
      f.length !== cols.length ||
      !f[0] ||
      !Number.isInteger(concurrency) ||
      !Number.isInteger(replicate) ||
      wall === undefined ||
      Number.isNaN(wall)
    )
      return `line ${i + 2}: expected ${cols.length} fields with a mode, whole concurrency and replicate, and wall_ms`;
    const pick = (names: readonly string[], at: number) => {
      const o: Record<string, number> = {};
      names.forEach((n, k) => {
        const v = num(f[at + k]);
        if (v !== undefined && !Number.isNaN(v)) o[n] = v;
      });
      return o;
    };
    rows.push({
      mode: f[0],
      concurrency: concurrency!,
      replicate: replicate!,
      wall_ms: wall,
      status: f[4] ?? '',
      metrics: pick(metricCols, FIXED_COLUMNS.length),
      phases: pick(PHASE_COLUMNS, FIXED_COLUMNS.length + metricCols.length),
    });
  }
  return { metricCols, rows, torn };
}
