import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ceilingTable, type LoadLevel, loadCsv, loadSvg, loadTable, parseLevels } from './load-report.js';

const lvl = (c: number, rps: number, p50: number): LoadLevel => ({
  concurrency: c,
  requests: 100,
  ok: 98,
  refused: 2,
  failed: 0,
  seconds: 1,
  throughput: rps,
  latency: { n: 98, median: p50, p90: p50 * 2, p99: p50 * 3, mean: p50, min: 1, max: p50 * 4 },
});

test('levels parse, dedupe and sort; bad input is explained', () => {
  assert.deepEqual(parseLevels('3, 1,2,2'), [1, 2, 3]);
  assert.match(String(parseLevels('1,x')), /comma-separated/);
  assert.match(String(parseLevels('0')), /from 1/);
});

test('table, csv and svg carry every level', () => {
  const levels = [lvl(1, 50, 20), lvl(2, 90, 22)];
  const t = loadTable(levels);
  assert.match(t, /req\/s/);
  assert.match(t, /90\.0/);
  const csv = loadCsv(levels).trim().split('\n');
  assert.equal(csv.length, 3);
  assert.match(csv[2]!, /^2,100,98,2,0,1\.000,90\.00,22\.000,44\.000,66\.000,88\.000$/);
  const svg = loadSvg(levels, 'noop <load>');
  assert.match(svg, /^<svg/);
  assert.match(svg, /noop &lt;load&gt;/);
  assert.equal((svg.match(/<polyline/g) ?? []).length, 3);
});

test('the ceiling table puts each level beside the bare Fastify one, with the ratio', () => {
  const t = ceilingTable([lvl(1, 500, 2), lvl(8, 2000, 4)], [lvl(1, 1000, 1), lvl(8, 8000, 1)]);
  const lines = t.split('\n');
  assert.equal(lines.length, 3);
  assert.match(lines[1]!, /^\s*1\s+500\.0\s+1000\.0\s+0\.50x/);
  assert.match(lines[2]!, /^\s*8\s+2000\.0\s+8000\.0\s+0\.25x/);
});
