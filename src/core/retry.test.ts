import assert from 'node:assert/strict';
import { test } from 'node:test';
import { lastAttemptNote, retryDelayMs, verdict } from './retry.js';

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

test('a dead letter’s note says its last attempt was the last, with its own error if any', () => {
  assert.equal(
    lastAttemptNote({ status: 'failed', exitCode: 3, error: null }, 3),
    'attempt 3 of 3, the last, ended failed (exit 3); no attempts left',
  );
  assert.equal(
    lastAttemptNote({ status: 'error', exitCode: null, error: 'sandbox gone' }, 2),
    'attempt 2 of 2, the last, ended error: sandbox gone; no attempts left',
  );
});
