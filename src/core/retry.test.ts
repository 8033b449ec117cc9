import assert from 'node:assert/strict';
import { test } from 'node:test';
import { retryDelayMs, verdict } from './retry.js';

test('retry delays grow by the factor and stop at the cap', () => {
  const b = { initialMs: 100, maxMs: 1000, factor: 3 };
  assert.deepEqual(
    [1, 2, 3, 4].map((n) => retryDelayMs(n, b)),
    [100, 300, 900, 1000],
  );
  assert.equal(retryDelayMs(1, { initialMs: 50, maxMs: 50, factor: 1 }), 50);
});

test('an attempt is retried until the attempts are used up, then dead-lettered', () => {
  assert.equal(verdict(true, 1, 1), 'succeeded');
  assert.equal(verdict(false, 1, 3), 'retry');
  assert.equal(verdict(false, 3, 3), 'dead');
  assert.equal(verdict(true, 3, 3), 'succeeded');
});
