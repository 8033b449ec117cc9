import assert from 'node:assert/strict';
import { test } from 'node:test';
import { planLayerSizes } from './pull-images.js';
import { type PullSizeResult, pullRatios, pullTable, throughputMBps } from './pull-report.js';
import { summarize } from './stats.js';

const result = (label: string, ms: Record<string, number[]>): PullSizeResult => ({
  label,
  totalBytes: 100e6,
  layers: 9,
  runs: 3,
  summaries: Object.fromEntries(Object.entries(ms).map(([k, v]) => [k, summarize(v)])),
});

test('ratios use medians and skip what was not measured', () => {
  const r = result('100 MiB', {
    pull: [400, 500, 900],
    curl: [90, 100, 110],
    unpack: [300, 300, 300],
    tar: [150, 150, 150],
  });
  assert.deepEqual(pullRatios(r), { 'pull / curl': 5, 'unpack / tar -xzf': 2 });
  assert.equal(throughputMBps(100e6, 500), 200);
});

test('the table has a column per size and a row per measured thing', () => {
  const t = pullTable([
    result('10 MiB', { pull: [50], curl: [10] }),
    result('1 GiB', { pull: [5000], curl: [1000], deploy: [9000] }),
  ]);
  const lines = t.split('\n');
  assert.match(lines[0]!, /10 MiB \(95 MiB, 9 layers, n=3\).*1 GiB/);
  assert.match(t, /agni pull \(download \+ verify\)\s+50\.0ms\s+5\.00s/);
  assert.match(t, /deploy \(server pulls \+ unpacks\)\s+-\s+9\.00s/);
  assert.match(t, /pull \/ curl\s+5\.00x\s+5\.00x/);
  assert.doesNotMatch(t, /agni unpack|tar -xzf/, 'unmeasured rows are left out');
  assert.match(t, /pull throughput\s+2000 MB\/s\s+20 MB\/s/);
});

test('layer sizes add up to the image, larger first, none tiny', () => {
  const sizes = planLayerSizes(100 * 2 ** 20, 1_000_000, 8);
  assert.equal(sizes.length, 8);
  assert.equal(
    sizes.reduce((a, b) => a + b, 0),
    100 * 2 ** 20 - 1_000_000,
  );
  for (let i = 1; i < sizes.length; i++) assert.ok(sizes[i]! <= sizes[i - 1]!);
  assert.ok(planLayerSizes(1000, 5000, 3).every((s) => s >= 4096));
});
