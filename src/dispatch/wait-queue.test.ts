import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WaitQueue } from './wait-queue.js';

const entry = (rejected: string[], unlistened: string[], ...calls: [fn: string, id: string][]) => ({
  members: calls.map(([fn, id]) => ({
    job: { request: { version: { function: fn } } },
    reject: () => rejected.push(id),
  })),
  unlisten: () => unlistened.push(calls.map(([, id]) => id).join('+')),
});

test('cancelFunction takes out whole entries holding a call of the function and rejects all their members', () => {
  const rejected: string[] = [];
  const unlistened: string[] = [];
  const q = new WaitQueue<ReturnType<typeof entry>>();
  q.add(entry(rejected, unlistened, ['f', 'a']));
  q.add(entry(rejected, unlistened, ['g', 'b'], ['f', 'c']));
  q.add(entry(rejected, unlistened, ['g', 'd']));
  assert.equal(q.queuedJobs, 4);
  assert.equal(q.cancelFunction('f', new Error('removed')), 3);
  assert.deepEqual(rejected, ['a', 'b', 'c']);
  assert.deepEqual(unlistened, ['a', 'b+c']);
  assert.equal(q.entries.length, 1);
  assert.equal(q.queuedJobs, 1);
  assert.equal(q.cancelFunction('f', new Error('removed')), 0);
});

test('add in front, remove once only, rejectAll empties the queue', () => {
  const rejected: string[] = [];
  const unlistened: string[] = [];
  const q = new WaitQueue<ReturnType<typeof entry>>();
  const a = entry(rejected, unlistened, ['f', 'a']);
  const b = entry(rejected, unlistened, ['f', 'b']);
  q.add(a);
  q.add(b, true);
  assert.deepEqual(q.entries, [b, a]);
  assert.equal(q.remove(b), true);
  assert.equal(q.remove(b), false, 'it had already left');
  assert.deepEqual(unlistened, ['b']);
  q.add(entry(rejected, unlistened, ['g', 'c'], ['g', 'd']));
  assert.equal(q.queuedJobs, 3);
  q.rejectAll(new Error('closing'));
  assert.deepEqual(rejected, ['a', 'c', 'd']);
  assert.equal(q.queuedJobs, 0);
  assert.equal(q.entries.length, 0);
});
