import assert from 'node:assert/strict';
import { test } from 'node:test';
import { quantile, summarize } from './stats.js';

test('median and p90 interpolate between samples', () => {
  const s = summarize([5, 1, 4, 2, 3]);
  assert.equal(s.median, 3);
  assert.equal(s.min, 1);
  assert.equal(s.max, 5);
  assert.ok(Math.abs(s.p90 - 4.6) < 1e-9);
  assert.equal(quantile([10, 20], 0.5), 15);
});
