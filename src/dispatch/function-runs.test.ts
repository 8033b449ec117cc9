import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FunctionRuns } from './function-runs.js';

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
