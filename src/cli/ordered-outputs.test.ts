import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InOrder } from './ordered-outputs.js';

test('outputs leave in input order, each as soon as all before it are out', () => {
  const o = new InOrder(5);
  o.settle(2);
  o.settle(1);
  assert.deepEqual(o.take(), [], 'item 0 holds the rest back');
  o.settle(0);
  assert.deepEqual(o.take(), [0, 1, 2]);
  assert.deepEqual(o.take(), [], 'each index once');
  o.settle(4);
  assert.deepEqual(o.take(), []);
  assert.equal(o.done, false);
  o.settle(3);
  assert.deepEqual(o.take(), [3, 4]);
  assert.equal(o.done, true);
  assert.equal(o.written, 5);
});

test('repeated and out-of-range settles change nothing', () => {
  const o = new InOrder(2);
  o.settle(0);
  o.settle(0);
  o.settle(7);
  o.settle(-1);
  assert.deepEqual(o.take(), [0]);
  o.settle(0);
  assert.deepEqual(o.take(), [], 'an index already taken is not taken again');
  o.settle(1);
  assert.deepEqual(o.take(), [1]);
  assert.equal(o.done, true);
});

test('a job with no items is done at once', () => {
  assert.equal(new InOrder(0).done, true);
});
