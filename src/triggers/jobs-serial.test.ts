import assert from 'node:assert/strict';
import { test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { KeyedSerial } from './jobs-serial.js';

test('tasks of one key run one at a time, in order; other keys do not wait', async () => {
  const s = new KeyedSerial();
  const log: string[] = [];
  const task = (name: string, ms: number) => async () => {
    log.push(`start ${name}`);
    await sleep(ms);
    log.push(`end ${name}`);
    return name;
  };
  const a1 = s.run('a', task('a1', 30));
  const a2 = s.run('a', task('a2', 1));
  const b1 = s.run('b', task('b1', 1));
  assert.deepEqual(await Promise.all([a1, a2, b1]), ['a1', 'a2', 'b1']);
  assert.ok(log.indexOf('end a1') < log.indexOf('start a2'), log.join(', '));
  assert.ok(log.indexOf('end b1') < log.indexOf('end a1'), 'b did not queue behind a');
});

test('a failing task fails its own caller only', async () => {
  const s = new KeyedSerial();
  const bad = s.run('k', async () => {
    throw new Error('boom');
  });
  const good = s.run('k', async () => 42);
  await assert.rejects(bad, /boom/);
  assert.equal(await good, 42);
  await s.idle();
});
