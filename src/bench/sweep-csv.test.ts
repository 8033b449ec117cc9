import assert from 'node:assert/strict';
import { test } from 'node:test';
import { csvHeader, PHASE_COLUMNS, parseSweepCsv, type SweepRow, sweepCsv } from './sweep-csv.js';

const row = (mode: string, c: number, r: number, metrics: Record<string, number> = {}): SweepRow => ({
  mode,
  concurrency: c,
  replicate: r,
  wall_ms: 10 + r,
  status: 'ok',
  metrics,
  phases: mode === 'host' ? {} : { agni_ms: 9, phase_sandbox_ready_ms: 3.25 },
});

test('rows round-trip through the CSV, metric columns in order of appearance', () => {
  const rows = [
    row('host', 1, 1, { fit: 1.5 }),
    row('runc', 1, 1, { fit: 2, score: 0.5 }),
    row('runc', 2, 2),
  ];
  const text = sweepCsv(rows);
  assert.equal(
    text.split('\n')[0],
    `mode,concurrency,replicate,wall_ms,status,fit,score,${PHASE_COLUMNS.join(',')}`,
  );
  const back = parseSweepCsv(text);
  assert.ok(typeof back !== 'string');
  assert.deepEqual(back.metricCols, ['fit', 'score']);
  assert.deepEqual(back.rows, rows);
  assert.equal(back.torn, false);
});

test('a torn last line is not a row; a foreign header or a short line is an error', () => {
  const text = sweepCsv([row('runc', 1, 1)]);
  const back = parseSweepCsv(`${text}runc,1,2,1`);
  assert.ok(typeof back !== 'string');
  assert.equal(back.rows.length, 1);
  assert.equal(back.torn, true);
  assert.match(String(parseSweepCsv('a,b,c\n1,2,3\n')), /header is not a sweep's/);
  assert.match(String(parseSweepCsv(`${csvHeader([])}runc,1\n`)), /line 2: expected/);
  assert.match(String(parseSweepCsv('')), /no header/);
});

test('a status with a comma or a quote is quoted', () => {
  const r = { ...row('host', 1, 1), status: 'failed: "x", y' };
  const back = parseSweepCsv(sweepCsv([r]));
  assert.ok(typeof back !== 'string');
  assert.equal(back.rows[0]!.status, 'failed: "x", y');
});
