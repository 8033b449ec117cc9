import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { GcGate } from './gc-gate.js';

test('a collection waits for running pulls, and pulls arriving meanwhile wait for it', async () => {
  const gate = new GcGate();
  const log: string[] = [];
  const pull = (name: string, ms: number) =>
    gate.shared(async () => {
      log.push(`${name} start`);
      await sleep(ms);
      log.push(`${name} end`);
    });
  const p1 = pull('p1', 40);
  const p2 = pull('p2', 20);
  await sleep(5);
  assert.equal(gate.busy, 2);
  const gc = gate.exclusive(async () => {
    log.push('gc start');
    await sleep(20);
    log.push('gc end');
    return 7;
  });
  await sleep(5);
  const p3 = pull('p3', 1);
  assert.equal(await gc, 7);
  await Promise.all([p1, p2, p3]);
  assert.deepEqual(log, [
    'p1 start',
    'p2 start',
    'p2 end',
    'p1 end',
    'gc start',
    'gc end',
    'p3 start',
    'p3 end',
  ]);
});

test('collections run one at a time; a failing one releases the gate', async () => {
  const gate = new GcGate();
  let running = 0;
  let most = 0;
  const gc = (fail: boolean) =>
    gate.exclusive(async () => {
      running++;
      most = Math.max(most, running);
      await sleep(10);
      running--;
      if (fail) throw new Error('boom');
      return 'ok';
    });
  const results = await Promise.allSettled([gc(true), gc(false), gc(false)]);
  assert.equal(most, 1);
  assert.deepEqual(
    results.map((r) => r.status),
    ['rejected', 'fulfilled', 'fulfilled'],
  );
  assert.equal(await gate.shared(async () => 'after'), 'after');
});

test('shared work nested in shared work does not wait for a pending collection', async () => {
  const gate = new GcGate();
  const log: string[] = [];
  const outer = gate.shared(async () => {
    await sleep(10);
    // A collection is pending now; the inner work must not queue behind it.
    const inner = await gate.shared(async () => 'inner');
    log.push(inner);
  });
  await sleep(2);
  const gc = gate.exclusive(async () => log.push('gc'));
  await Promise.all([outer, gc]);
  assert.deepEqual(log, ['inner', 'gc']);
});
