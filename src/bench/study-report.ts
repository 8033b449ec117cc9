/**
 * docs/study.md from the corn-yield study's sweeps (`npm run bench:study`, issue 14): method,
 * machine, per-language tables of the study's steps by mode and level, the charts, and what the
 * numbers say, each statement computed from the medians (nothing in it is written by hand).
 * Pure: summaries and facts in, markdown out.
 */

import { fmt } from './sweep-report.js';
import type { SweepCell, SweepSummary } from './sweep-summary.js';

/** the part of `agni bench sweep --json` this report reads */
export type StudyCell = Pick<
  SweepCell,
  'metric' | 'mode' | 'concurrency' | 'n' | 'failed' | 'median' | 'p90' | 'min' | 'max' | 'ratio_to_host'
>;

export type StudySweep = Omit<SweepSummary, 'kind' | 'cells'> & { cells: StudyCell[] };

export interface StudyLanguage {
  /** Python, R */
  name: string;
  /** the example's directory, relative to the repository */
  dir: string;
  sweep: StudySweep;
  /** charts relative to docs/, by metric */
  charts: Record<string, string>;
  /** the sweep's own markdown (every metric and phase), for the appendix */
  fullMarkdown: string;
}

export interface StudyInput {
  date: string;
  /** the command that made this page, to rerun it */
  command: string;
  machine: [label: string, value: string][];
  table: { rows: number; columns: number; sqliteBytes: number; seed: number };
  payload: string;
  languages: StudyLanguage[];
  /** the 1-minute load average when the run started and ended, beside the core count */
  load: { start: number; end: number; cores: number };
}

/** the study's own steps, in the order a replicate runs them */
export const STEP_METRICS = [
  'dbread_time_sec',
  'fread_time_sec',
  'fwrite_time_sec',
  'training_time_sec',
  'evaluation_time_sec',
];
export const SCORE_METRICS = ['r_squared', 'rf_r_squared', 'overall_accuracy'];
/** Agni's phases from receiving a call to starting its command (each the time since the previous) */
export const PRESTART_PHASES = [
  'phase_queued_ms',
  'phase_placed_ms',
  'phase_dispatched_ms',
  'phase_sandbox_ready_ms',
  'phase_started_ms',
];
/** the charts shown inline (the sweep draws one per metric) */
export const CHART_METRICS = ['wall_ms', ...STEP_METRICS];

const MODE_TEXT: Record<string, string> = {
  host: 'the same command on the bare host (`/fn` and `/data` rewritten to the host directories)',
  process: 'Agni with the process backend (no isolation, development only)',
  runc: 'a fresh runc sandbox per call (`pool.max: 0`)',
  prewarmed: 'a runc sandbox created ahead of the call, the call pays an exec (`pool.min` = the level)',
  warm: 'one runc sandbox per concurrent caller, kept; the command still starts per call under the shell warm helper',
  docker: '`docker run --rm` of the same command',
  'warm-imports':
    'Python only: a warm worker that imports numpy, pandas, scikit-learn and psycopg2 once and runs each replicate as a call (`python/warm.py`, `lifecycle: warm`); swept right after the others, not interleaved with them, and its first call starts the worker',
};

/**
 * `base` with `extra`'s cells of mode `from` added as mode `as`, their ratios recomputed against
 * base's host medians: a variant of the function swept on its own (a warm worker has no host
 * command) shown as one more column beside the function it stands for.
 */
export function withMode<T extends StudySweep>(base: T, extra: T, from: string, as: string): T {
  const added = extra.cells
    .filter((c) => c.mode === from)
    .map((c) => {
      const host = base.cells.find(
        (h) => h.metric === c.metric && h.mode === 'host' && h.concurrency === c.concurrency,
      );
      return {
        ...c,
        mode: as,
        ratio_to_host: host && host.n > 0 && host.median !== 0 ? c.median / host.median : null,
      };
    });
  return {
    ...base,
    modes: [...base.modes, as],
    metrics: [...base.metrics, ...extra.metrics.filter((m) => !base.metrics.includes(m))],
    cells: [...base.cells, ...added] as T['cells'],
    notes: [...base.notes, ...extra.notes.map((n) => `${as}: ${n}`)],
  };
}

const ratio = (r: number | null | undefined) => (r === null || r === undefined ? '' : ` ×${r.toFixed(2)}`);

function cell(s: StudySweep, metric: string, mode: string, level: number): StudyCell | undefined {
  return s.cells.find((c) => c.metric === metric && c.mode === mode && c.concurrency === level);
}

/** modes that have any cell, host first */
function modesOf(s: StudySweep): string[] {
  const present = s.modes.filter((m) => s.cells.some((c) => c.mode === m));
  return [...present.filter((m) => m === 'host'), ...present.filter((m) => m !== 'host')];
}

/** one table per level: the study's steps and wall time down, modes across; median (× host) */
function stepTables(lang: StudyLanguage): string[] {
  const s = lang.sweep;
  const modes = modesOf(s);
  const out: string[] = [];
  const metrics = ['wall_ms', ...STEP_METRICS].filter((m) => s.metrics.includes(m));
  for (const level of s.levels) {
    out.push(`**${lang.name}, ${level} at once** (median, × the host's median)`, '');
    out.push(`| metric | ${modes.join(' | ')} |`, `| --- | ${modes.map(() => '---:').join(' | ')} |`);
    for (const m of metrics) {
      const row = modes.map((mode) => {
        const c = cell(s, m, mode, level);
        if (!c || c.n === 0) return '–';
        return `${fmt(c.median)}${mode === 'host' ? '' : ratio(c.ratio_to_host)}${c.failed > 0 ? ` ⚠${c.failed} failed` : ''}`;
      });
      out.push(`| ${m} | ${row.join(' | ')} |`);
    }
    out.push('');
  }
  return out;
}

/** the statements of "What the numbers say" for one language, each from the medians */
export function findings(lang: StudyLanguage): string[] {
  const s = lang.sweep;
  const modes = modesOf(s).filter((m) => m !== 'host');
  const out: string[] = [];
  const failed = s.cells.filter((c) => c.metric === 'wall_ms').reduce((a, c) => a + c.failed, 0);
  if (failed > 0) out.push(`${failed} replicates failed; the medians below are of the others.`);
  // where sandboxing costs: time per call outside the function's own steps
  for (const level of s.levels) {
    const host = cell(s, 'wall_ms', 'host', level);
    if (!host || host.n === 0) continue;
    const parts = modes.flatMap((mode) => {
      const c = cell(s, 'wall_ms', mode, level);
      if (!c || c.n === 0) return [];
      const extra = (c.median - host.median) / 1000;
      return [
        `${mode} ${extra >= 0 ? '+' : '−'}${fmt(Math.abs(extra))} s (×${(c.median / host.median).toFixed(2)})`,
      ];
    });
    if (parts.length > 0)
      out.push(
        `At ${level} at once, a whole replicate takes ${fmt(host.median / 1000)} s on the bare host (median); against that: ${parts.join(', ')}.`,
      );
  }
  // what Agni itself adds before the command runs, measured directly by its phases
  for (const level of s.levels) {
    const host = cell(s, 'wall_ms', 'host', level);
    const parts = modes.flatMap((mode) => {
      const cs = PRESTART_PHASES.map((p) => cell(s, p, mode, level)).filter((c) => c && c.n > 0);
      if (cs.length === 0) return [];
      const ms = cs.reduce((a, c) => a + c!.median, 0);
      const share =
        host && host.n > 0 ? ` (${((100 * ms) / host.median).toFixed(1)} % of the host's replicate)` : '';
      return [`${mode} ${fmt(ms)} ms${share}`];
    });
    if (parts.length > 0)
      out.push(
        `At ${level} at once, Agni's own work before the command runs (received → started, the sum of those phases' medians): ${parts.join(', ')}.`,
      );
  }
  // where it does not: the steps the function times itself
  const stepRatios = s.cells.filter(
    (c) => STEP_METRICS.includes(c.metric) && c.mode !== 'host' && c.n > 0 && c.ratio_to_host !== null,
  );
  for (const metric of STEP_METRICS) {
    const rs = stepRatios.filter((c) => c.metric === metric).map((c) => c.ratio_to_host!);
    if (rs.length === 0) continue;
    const lo = Math.min(...rs);
    const hi = Math.max(...rs);
    const verdict =
      hi <= 1.1 && lo >= 0.9
        ? 'within 10 % of the host in every mode and level'
        : hi > 1.1
          ? `up to ×${hi.toFixed(2)} the host's (${stepRatios
              .filter((c) => c.metric === metric && c.ratio_to_host === hi)
              .map((c) => `${c.mode} at ${c.concurrency}`)
              .join(', ')})`
          : `as low as ×${lo.toFixed(2)} the host's`;
    out.push(`\`${metric}\`: ×${lo.toFixed(2)}–×${hi.toFixed(2)} the host's median, ${verdict}.`);
  }
  // the same computation everywhere: scores do not depend on the mode
  for (const metric of SCORE_METRICS) {
    const cs = s.cells.filter((c) => c.metric === metric && c.n > 0);
    if (cs.length === 0) continue;
    const lo = Math.min(...cs.map((c) => c.min));
    const hi = Math.max(...cs.map((c) => c.max));
    out.push(
      lo === hi
        ? `\`${metric}\` is ${fmt(lo)} in every replicate of every mode: the same fit everywhere.`
        : `\`${metric}\` ranges ${fmt(lo)}–${fmt(hi)} across replicates and modes.`,
    );
  }
  return out;
}

export function studyMarkdown(o: StudyInput): string {
  const first = o.languages[0]?.sweep;
  const out = [
    '# The corn-yield study: what does a sandbox cost a data-science workload?',
    '',
    `Generated by \`${o.command}\` on ${o.date}; every number below comes from that run (rerun it to`,
    "refresh this page; `-n 200` for the published study's replicate count). The question, from",
    'issue 14: a scientist moving a model fit into a sandbox wants to know what it costs. The',
    'workload is [examples/corn-yield](../examples/corn-yield/README.md): a random forest and a',
    'Poisson GLM fitted to a climate table, in Python and in R, timing each step itself.',
    '',
    '## Method',
    '',
    `- **Table**: ${o.table.rows.toLocaleString('en')} rows × ${o.table.columns} columns (12 monthly mean temperatures, 12 monthly`,
    `  precipitation totals, their annual mean and total, a 0–10 "years grown" target), seed ${o.table.seed},`,
    `  ${(o.table.sqliteBytes / 1e6).toFixed(1)} MB as SQLite on a read-only volume and the same rows in PostgreSQL.`,
    '- **One replicate**: `dbread` (the table from PostgreSQL over TCP), `fread` (from SQLite on the',
    "  volume), `fwrite` (a SQLite copy to the sandbox's /tmp), `training` (random forest + GLM by",
    '  IRLS, up to 50 steps), `evaluation` (held-out R², exact-class accuracy). The function prints',
    '  its step times; `wall_ms` is the whole call as the caller sees it (request to response for',
    "  Agni, spawn to exit on the host), so it adds the interpreter's start and imports.",
    `- **Payload** of every replicate: \`${o.payload}\`.`,
    `- **Sweep**: \`agni bench sweep\`, ${first ? `${first.n} replicates per mode and level, levels ${first.levels.join(', ')}` : ''}; levels`,
    '  interleaved, rounds over the modes, so drift on this shared machine hits every column alike.',
    '- **Modes**:',
    ...[...new Set(o.languages.flatMap((l) => modesOf(l.sweep)))].map(
      (m) => `  - \`${m}\`: ${MODE_TEXT[m] ?? m}`,
    ),
    "- **Network**: PostgreSQL listens on this machine's loopback, so the functions run with",
    '  `network: host`, as the example ships. With the database on another machine, `network: egress`',
    "  with `allow:` its address only is the switch (see the example's README; tested in",
    '  test/corn-yield.test.ts).',
    '',
    '## Machine',
    '',
    '| | |',
    '| --- | --- |',
    ...o.machine.map(([k, v]) => `| ${k} | ${v} |`),
    '',
  ];
  for (const lang of o.languages) {
    out.push(`## ${lang.name} (\`${lang.dir}\`)`, '');
    for (const note of lang.sweep.notes) out.push(`- ${note}`);
    if (lang.sweep.notes.length > 0) out.push('');
    out.push(...stepTables(lang));
    const charts = CHART_METRICS.filter((m) => lang.charts[m]);
    if (charts.length > 0) {
      out.push('Box plots by mode across levels (box: quartiles, bar: median, whiskers: min and max):', '');
      for (const m of charts) out.push(`![${lang.name}: ${m}](${lang.charts[m]})`);
      out.push('');
    }
  }
  out.push('## What the numbers say', '');
  const busiest = Math.max(o.load.start, o.load.end);
  if (busiest > o.load.cores)
    out.push(
      `The machine was busy with other work during this run (load average ${busiest.toFixed(1)} on ${o.load.cores} cores),`,
      "so the function's own step times differ between columns by more than any sandbox explains;",
      "Agni's phases, timed around the command, are the direct measure of what the sandbox adds.",
      "Beyond Agni's phases, the sandboxed columns' extra time is the command itself running slower.",
      'One reason to expect that on a busy machine: every sandbox sits under one `agni` cgroup whose',
      "CPU weight (cgroup v1 `cpu.shares` 1024) is one process's, so when the machine is oversubscribed",
      'all sandboxes together get about what one host process gets, while each host-baseline process',
      'gets its own.',
      '',
    );
  for (const lang of o.languages) {
    out.push(`**${lang.name}**`, '');
    for (const f of findings(lang)) out.push(`- ${f}`);
    out.push('');
  }
  out.push('## Every metric and phase', '');
  for (const lang of o.languages) {
    out.push(
      `<details><summary>${lang.name}: the sweep's full report</summary>`,
      '',
      lang.fullMarkdown.replace(/^## /m, '### ').replace(/^### (?!agni)/gm, '#### '),
      '',
      '</details>',
      '',
    );
  }
  return `${out.join('\n').trimEnd()}\n`;
}
