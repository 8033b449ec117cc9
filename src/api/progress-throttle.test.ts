import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ProgressThrottle } from './progress-throttle.js';

test('each blob gets its first and last byte count; the middle ones at most every interval', () => {
  const t = new ProgressThrottle(100);
  const a = (done: number, now: number) => t.pass({ digest: 'a', done, total: 10 }, now);
  const b = (done: number, now: number) => t.pass({ digest: 'b', done, total: 10 }, now);
  assert.equal(a(0, 1000), true, 'first of a');
  assert.equal(b(0, 1001), true, 'first of b, though a was just sent');
  assert.equal(a(3, 1050), false);
  assert.equal(a(5, 1100), true, 'an interval later');
  assert.equal(b(10, 1002), true, 'last of b, though inside the interval');
});
