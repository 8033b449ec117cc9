import assert from 'node:assert/strict';
import { test } from 'node:test';
import { WaitQueue } from './wait-queue.js';

const entry = (rejected: string[], ...calls: [fn: string, id: string, signal?: AbortSignal][]) => ({
  members: calls.map(([fn, id, signal]) => ({
    job: { request: { version: { function: fn } }, channel: { io: signal ? { signal } : {} } },
    reject: (e: unknown) => rejected.push(`${id}: ${(e as Error).message}`),
  })),
});
type Entry = ReturnType<typeof entry>;
const nothing = () => assert.fail('no abort expected');

test('cancelFunction takes out whole entries holding a call of the function and rejects all their members', () => {
  const rejected: string[] = [];
  const q = new WaitQueue<Entry>();
  q.add(entry(rejected, ['f', 'a']), false, nothing);
  q.add(entry(rejected, ['g', 'b'], ['f', 'c']), false, nothing);
  q.add(entry(rejected, ['g', 'd']), false, nothing);
  assert.equal(q.queuedJobs, 4);
  assert.equal(q.cancelFunction('f', new Error('removed')), 3);
  assert.deepEqual(rejected, ['a: removed', 'b: removed', 'c: removed']);
  assert.equal(q.entries.length, 1);
  assert.equal(q.queuedJobs, 1);
  assert.equal(q.cancelFunction('f', new Error('removed')), 0);
});

test('add in front, remove once only, rejectAll empties the queue', () => {
  const rejected: string[] = [];
  const q = new WaitQueue<Entry>();
  const a = entry(rejected, ['f', 'a']);
  const b = entry(rejected, ['f', 'b']);
  q.add(a, false, nothing);
  q.add(b, true, nothing);
  assert.deepEqual(q.entries, [b, a]);
  assert.equal(q.remove(b), true);
  assert.equal(q.remove(b), false, 'it had already left');
  q.add(entry(rejected, ['g', 'c'], ['g', 'd']), false, nothing);
  assert.equal(q.queuedJobs, 3);
  q.rejectAll(new Error('closing'));
  assert.deepEqual(rejected, ['a: closing', 'c: closing', 'd: closing']);
  assert.equal(q.queuedJobs, 0);
  assert.equal(q.entries.length, 0);
});

test("an abort while waiting takes the whole group out with the abort's reason; after leaving, an abort does nothing", () => {
  const rejected: string[] = [];
  let aborted = 0;
  const q = new WaitQueue<Entry>();
  const x = new AbortController();
  const y = new AbortController();
  q.add(entry(rejected, ['f', 'a'], ['f', 'b', x.signal]), false, () => aborted++);
  const left = entry(rejected, ['g', 'c', y.signal]);
  q.add(left, false, () => aborted++);
  x.abort(new Error('caller went away'));
  assert.deepEqual(rejected, ['a: caller went away', 'b: caller went away']);
  assert.equal(aborted, 1);
  assert.equal(q.queuedJobs, 1);
  q.remove(left);
  y.abort();
  assert.equal(aborted, 1, 'its listener was removed with it');
  assert.equal(rejected.length, 2);
});

test('an entry whose signal had already aborted leaves at once, its calls cancelled', () => {
  const rejected: string[] = [];
  let aborted = 0;
  const q = new WaitQueue<Entry>();
  assert.equal(
    q.add(entry(rejected, ['f', 'a', AbortSignal.abort('no Error')]), false, () => aborted++),
    false,
  );
  assert.deepEqual(rejected, ['a: cancelled before it started']);
  assert.equal(aborted, 1);
  assert.equal(q.queuedJobs, 0);
});
