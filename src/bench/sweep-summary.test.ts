import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SweepRow } from './sweep-csv.js';
import { sweepMarkdown } from './sweep-report.js';
import { summarizeSweep } from './sweep-summary.js';
import { sweepSvg } from './sweep-svg.js';

const rows: SweepRow[] = [];
for (const [mode, k] of [
  ['host', 1],
  ['runc', 2],
] as const)
  for (const c of [1, 2])
    for (let r = 1; r <= 4; r++)
      rows.push({
        mode,
        concurrency: c,
        replicate: r,
        wall_ms: k * c * r,
        status: mode === 'runc' && c === 2 && r === 4 ? 'failed' : 'ok',
        metrics: { fit: k * 10 + r },
        phases: mode === 'host' ? {} : { agni_ms: r },
      });
// outside the plan (a larger earlier -n): not counted
rows.push({
  mode: 'host',
  concurrency: 1,
  replicate: 9,
  wall_ms: 1e6,
  status: 'ok',
  metrics: {},
  phases: {},
});

const s = summarizeSweep(rows, {
  function: 'tiny',
  n: 4,
  levels: [1, 2],
  modes: ['host', 'runc'],
  metricCols: ['fit'],
  notes: ['docker: no Docker engine answers'],
  date: new Date(0),
});

test('cells per metric, mode and level; ratios to the host median at the same level; failures counted', () => {
  assert.deepEqual(s.metrics, ['wall_ms', 'fit', 'agni_ms']);
  const cell = (metric: string, mode: string, c: number) =>
    s.cells.find((x) => x.metric === metric && x.mode === mode && x.concurrency === c)!;
  assert.deepEqual(
    { ...cell('wall_ms', 'host', 1) },
    {
      metric: 'wall_ms',
      mode: 'host',
      concurrency: 1,
      n: 4,
      failed: 0,
      median: 2.5,
      p90: 3.7,
      q1: 1.75,
      q3: 3.25,
      min: 1,
      max: 4,
      mean: 2.5,
      ratio_to_host: 1,
    },
  );
  assert.equal(cell('wall_ms', 'runc', 1).ratio_to_host, 2);
  // runc at 2: replicates 1..3 (4 failed): median 2*2*2 = 8 against host 2*2.5 = 5
  assert.equal(cell('wall_ms', 'runc', 2).n, 3);
  assert.equal(cell('wall_ms', 'runc', 2).failed, 1);
  assert.equal(cell('wall_ms', 'runc', 2).ratio_to_host, 8 / 5);
  assert.equal(cell('fit', 'runc', 1).ratio_to_host, 22.5 / 12.5);
  assert.equal(cell('agni_ms', 'runc', 1).ratio_to_host, null);
});

test('markdown: a table per metric with median / p90 and the ratio; the notes', () => {
  const md = sweepMarkdown(s);
  assert.match(md, /### wall_ms\n\n\| concurrency \| host \| runc \|/);
  assert.match(md, /\| 1 \| 2\.500 \/ 3\.700 \| 5\.000 \/ 7\.400 \(×2\.00\) \|/);
  assert.match(md, /⚠1 failed/);
  assert.match(md, /- docker: no Docker engine answers/);
});

test('SVG: one box per mode and level, well-formed, labelled', () => {
  const svg = sweepSvg(s, 'wall_ms');
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.equal((svg.match(/<g data-mode=/g) ?? []).length, 4);
  assert.match(svg, /tiny: wall_ms/);
  assert.equal((svg.match(/<g /g) ?? []).length, (svg.match(/<\/g>/g) ?? []).length);
  assert.doesNotMatch(svg, /NaN|undefined/);
});
