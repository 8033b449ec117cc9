import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cellKey } from './sweep-csv.js';
import { plannedReplicates, planSweep } from './sweep-plan.js';

test('levels in order; per level, rounds over the modes, each round starting one mode later', () => {
  const p = planSweep([1, 2], ['host', 'runc'], 2);
  assert.deepEqual(
    p.map((b) => `${b.mode}@${b.concurrency}:${b.replicates.join('+')}`),
    ['host@1:1', 'runc@1:1', 'runc@1:2', 'host@1:2', 'host@2:1+2', 'runc@2:1+2'],
  );
  assert.equal(plannedReplicates(p), 8);
});

test('resume: done replicates are left out, the rest regrouped into full batches', () => {
  const done = new Set([
    cellKey('runc', 2, 1),
    cellKey('runc', 2, 2),
    cellKey('host', 2, 2),
    cellKey('host', 1, 1),
  ]);
  const p = planSweep([1, 2], ['host', 'runc'], 3, done);
  assert.deepEqual(
    p.map((b) => `${b.mode}@${b.concurrency}:${b.replicates.join('+')}`),
    ['host@1:2', 'runc@1:1', 'runc@1:2', 'host@1:3', 'runc@1:3', 'host@2:1+3', 'runc@2:3'],
  );
  assert.equal(
    plannedReplicates(planSweep([1], ['a'], 2, new Set([cellKey('a', 1, 1), cellKey('a', 1, 2)]))),
    0,
  );
});
