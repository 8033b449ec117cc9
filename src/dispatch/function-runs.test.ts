import assert from 'node:assert/strict';
import { test } from 'node:test';
import { cancelQueuedOf, FunctionRuns } from './function-runs.js';

test('whenIdle: undefined while nothing runs, resolves only once the last call of the function ended', async () => {
  const runs = new FunctionRuns();
  assert.equal(runs.whenIdle('f'), undefined);
  runs.started('f');
  runs.started('f');
  runs.started('g');
  let idle = false;
  const p = runs.whenIdle('f')?.then(() => {
    idle = true;
  });
  assert.ok(p);
  runs.ended('f');
  await new Promise((r) => setImmediate(r));
  assert.equal(idle, false, 'one call of f still runs');
  assert.deepEqual(
    [...runs.byFunction],
    [
      ['f', 1],
      ['g', 1],
    ],
  );
  runs.ended('f');
  await p;
  assert.equal(idle, true);
  assert.deepEqual([...runs.byFunction], [['g', 1]]);
  assert.equal(runs.whenIdle('f'), undefined);
});

test('cancelQueuedOf: takes out whole entries holding a call of the function and rejects all their members', () => {
  const rejected: string[] = [];
  const member = (fn: string, id: string) => ({
    job: { request: { version: { function: fn } } },
    reject: () => rejected.push(id),
  });
  const queue = [
    { members: [member('f', 'a')] },
    { members: [member('g', 'b'), member('f', 'c')] },
    { members: [member('g', 'd')] },
  ];
  const n = cancelQueuedOf(queue, 'f', new Error('removed'), (e) => queue.splice(queue.indexOf(e), 1));
  assert.equal(n, 3);
  assert.deepEqual(rejected, ['a', 'b', 'c']);
  assert.equal(queue.length, 1);
  assert.equal(
    cancelQueuedOf(queue, 'f', new Error('removed'), () => assert.fail('nothing to remove')),
    0,
  );
});
