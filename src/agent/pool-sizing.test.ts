import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { budgetRoom, peakDemand, poolDelta, recordDemand, targetSize } from './pool-sizing.js';

const bounds = { min: 1, max: 3, idleMs: 1000 };

describe('pool sizing', () => {
  test('demand samples keep only the window; the peak is their maximum', () => {
    let s = recordDemand([], 0, 2, 100);
    s = recordDemand(s, 50, 1, 100);
    assert.equal(peakDemand(s, 50, 100), 2);
    s = recordDemand(s, 150, 1, 100);
    assert.deepEqual(
      s.map((x) => x.t),
      [50, 150],
    );
    assert.equal(peakDemand(s, 150, 100), 1);
    assert.equal(peakDemand(s, 1000, 100), 0);
    assert.equal(peakDemand([], 0), 0);
  });

  test('target is the recent peak clamped to min and max', () => {
    assert.equal(targetSize(bounds, 0, 0, 0, 10), 1);
    assert.equal(targetSize(bounds, 2, 1, 0, 10), 2);
    assert.equal(targetSize(bounds, 9, 9, 0, 10), 3);
    assert.equal(targetSize({ min: 0, max: 2, idleMs: 1000 }, 0, 0, 0, 10), 0);
  });

  test('an idle version shrinks to min (zero when min is 0), not while invocations run', () => {
    assert.equal(targetSize(bounds, 3, 0, 0, 1000), 1);
    assert.equal(targetSize({ ...bounds, min: 0 }, 3, 0, 0, 5000), 0);
    assert.equal(targetSize(bounds, 3, 1, 0, 5000), 3);
    assert.equal(targetSize(bounds, 3, 0, 0, 999), 3);
  });

  test('the budget limits by count and by memory', () => {
    const b = { count: 1, memoryBytes: 100, maxCount: 4, maxMemoryBytes: 300 };
    assert.equal(budgetRoom(b, 100), 2);
    assert.equal(budgetRoom(b, 50), 3);
    assert.equal(budgetRoom({ ...b, count: 4 }, 1), 0);
    assert.equal(budgetRoom({ ...b, memoryBytes: 400 }, 10), 0);
  });

  test('delta grows within the room and shrinks to the target', () => {
    assert.equal(poolDelta(0, 2, 5), 2);
    assert.equal(poolDelta(0, 2, 1), 1);
    assert.equal(poolDelta(0, 2, 0), 0);
    assert.equal(poolDelta(3, 1, 0), -2);
    assert.equal(poolDelta(1, 1, 9), 0);
  });
});
