import assert from 'node:assert/strict';
import { test } from 'node:test';
import { etaMsOf, formatEta, formatRate, rateOf } from './jobs-progress.js';

test('rate is items settled this run over the time since it started', () => {
  assert.equal(rateOf(10, 1_000, 6_000), 2);
  assert.equal(rateOf(3, 0, 1_500), 2);
  assert.equal(rateOf(0, 0, 5_000), null, 'nothing settled yet: unknown, not zero');
  assert.equal(rateOf(5, null, 5_000), null, 'not started');
  assert.equal(rateOf(5, 5_000, 5_000), null, 'no time has passed');
});

test('ETA is what remains at the current rate', () => {
  assert.equal(etaMsOf(10, 2), 5_000);
  assert.equal(etaMsOf(1, 3), 333);
  assert.equal(etaMsOf(0, null), 0, 'nothing left: done, whatever the rate');
  assert.equal(etaMsOf(4, null), null);
  assert.equal(etaMsOf(4, 0), null);
});

test('rates and ETAs read well', () => {
  assert.equal(formatRate(null), '-/s');
  assert.equal(formatRate(0.25), '0.25/s');
  assert.equal(formatRate(3.26), '3.3/s');
  assert.equal(formatRate(1234.5), '1235/s');
  assert.equal(formatEta(null), '-');
  assert.equal(formatEta(0), '0s');
  assert.equal(formatEta(44_600), '45s');
  assert.equal(formatEta(185_000), '3m05s');
  assert.equal(formatEta(2 * 3600_000 + 4 * 60_000), '2h04m');
});
