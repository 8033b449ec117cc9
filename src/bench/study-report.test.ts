import assert from 'node:assert/strict';
import { test } from 'node:test';
import { findings, type StudyCell, type StudyLanguage, studyMarkdown, withMode } from './study-report.js';

function c(
  metric: string,
  mode: string,
  concurrency: number,
  median: number,
  extra: Partial<StudyCell> = {},
): StudyCell {
  return {
    metric,
    mode,
    concurrency,
    n: 3,
    failed: 0,
    median,
    p90: median,
    min: median,
    max: median,
    ratio_to_host: null,
    ...extra,
  };
}

/** host and runc at one level: runc adds 0.5 s per call, its steps as the host's but dbread ×1.5 */
function lang(extra: StudyCell[] = []): StudyLanguage {
  const cells = [
    c('wall_ms', 'host', 1, 2000),
    c('wall_ms', 'runc', 1, 2500, { ratio_to_host: 1.25 }),
    c('phase_sandbox_ready_ms', 'runc', 1, 60),
    c('phase_started_ms', 'runc', 1, 40),
    c('dbread_time_sec', 'host', 1, 0.2),
    c('dbread_time_sec', 'runc', 1, 0.3, { ratio_to_host: 1.5 }),
    c('training_time_sec', 'host', 1, 1),
    c('training_time_sec', 'runc', 1, 1.02, { ratio_to_host: 1.02 }),
    c('r_squared', 'host', 1, 0.28),
    c('r_squared', 'runc', 1, 0.28),
    ...extra,
  ];
  return {
    name: 'Python',
    dir: 'examples/corn-yield/python',
    sweep: {
      function: 'corn-yield-py',
      date: '2026-12-01',
      n: 3,
      levels: [1],
      modes: ['runc', 'host'],
      metrics: ['wall_ms', 'dbread_time_sec', 'training_time_sec', 'r_squared'],
      cells,
      notes: ['docker: runtime host has no image to run in a container'],
    },
    charts: { wall_ms: 'img/study/python/wall_ms.svg' },
    fullMarkdown: '## agni bench sweep corn-yield-py\n\n### wall_ms\n\n| x |\n',
  };
}

test('findings: the cost per call against the host, which steps stay at the host speed, identical scores', () => {
  const f = findings(lang());
  assert.deepEqual(f, [
    'At 1 at once, a whole replicate takes 2.000 s on the bare host (median); against that: runc +0.500 s (×1.25).',
    "At 1 at once, Agni's own work before the command runs (received → started, the sum of those phases' medians): runc 100.0 ms (5.0 % of the host's replicate).",
    "`dbread_time_sec`: ×1.50–×1.50 the host's median, up to ×1.50 the host's (runc at 1).",
    "`training_time_sec`: ×1.02–×1.02 the host's median, within 10 % of the host in every mode and level.",
    '`r_squared` is 0.280 in every replicate of every mode: the same fit everywhere.',
  ]);
});

test('findings: failures are said first, and scores that vary are given as a range', () => {
  const l = lang([c('rf_r_squared', 'runc', 1, 0.8, { min: 0.79, max: 0.81 })]);
  l.sweep.cells[1] = { ...l.sweep.cells[1]!, failed: 2 };
  const f = findings(l);
  assert.equal(f[0], '2 replicates failed; the medians below are of the others.');
  assert.ok(f.includes('`rf_r_squared` ranges 0.790–0.810 across replicates and modes.'), f.join('\n'));
});

test('the page: host first in the tables, notes, charts, the full report demoted under a details block', () => {
  const md = studyMarkdown({
    date: '2026-12-01',
    command: 'npm run bench:study',
    machine: [['CPU', 'x']],
    table: { rows: 40000, columns: 29, sqliteBytes: 9_700_000, seed: 14 },
    payload: '{}',
    languages: [lang()],
    load: { start: 3.5, end: 1, cores: 2 },
  });
  assert.match(md, /\| metric \| host \| runc \|/);
  assert.match(md, /\| wall_ms \| 2000 \| 2500 ×1\.25 \|/);
  assert.match(md, /- docker: runtime host has no image/);
  assert.match(md, /!\[Python: wall_ms\]\(img\/study\/python\/wall_ms\.svg\)/);
  assert.match(md, /### agni bench sweep corn-yield-py\n\n#### wall_ms/);
  assert.match(md, /40,000 rows × 29 columns/);
  assert.match(md, /9\.7 MB as SQLite/);
  assert.match(md, /busy with other work during this run \(load average 3\.5 on 2 cores\)/);
});

test('withMode: a variant swept alone becomes one more column, its ratios against the base host', () => {
  const base = lang().sweep;
  const extra = {
    ...base,
    modes: ['warm'],
    metrics: ['wall_ms', 'import_sec'],
    cells: [c('wall_ms', 'warm', 1, 1500), c('import_sec', 'warm', 1, 0.1)],
    notes: ['no host baseline'],
  };
  const merged = withMode(base, extra, 'warm', 'warm-imports');
  assert.deepEqual(merged.modes, ['runc', 'host', 'warm-imports']);
  assert.deepEqual(merged.metrics, [...base.metrics, 'import_sec']);
  const wall = merged.cells.find((x) => x.mode === 'warm-imports' && x.metric === 'wall_ms');
  assert.equal(wall?.ratio_to_host, 0.75);
  assert.equal(merged.cells.find((x) => x.metric === 'import_sec')?.ratio_to_host, null);
  assert.deepEqual(merged.notes.at(-1), 'warm-imports: no host baseline');
  assert.equal(base.cells.length, 10, 'the base is left as it was');
});
