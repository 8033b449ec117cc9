/** The phase list and its waterfall: a cluster call's crossing shows between placed and sandbox_ready. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { phaseDurations, renderWaterfall } from './phases.js';

test('dispatched (the crossing to a node) sits between placed and sandbox_ready, and is left out when absent', () => {
  const t = { received: 0, queued: 1, placed: 2, dispatched: 5, sandbox_ready: 6, started: 7, finished: 10 };
  const rows = phaseDurations(t);
  assert.deepEqual(
    rows.map((r) => [r.phase, r.durationMs]),
    [
      ['received', 1],
      ['queued', 1],
      ['placed', 3],
      ['dispatched', 1],
      ['sandbox_ready', 1],
      ['started', 3],
      ['finished', 0],
    ],
  );
  assert.match(renderWaterfall(t), /^dispatched +\+/m);
  const { dispatched: _d, ...embedded } = t;
  assert.deepEqual(
    phaseDurations(embedded).map((r) => r.phase),
    ['received', 'queued', 'placed', 'sandbox_ready', 'started', 'finished'],
  );
});
