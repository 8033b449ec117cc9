import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import type { InvocationEvent } from '../core/invocation-events.js';
import { InProcessEventBus } from '../events/in-process-event-bus.js';
import { InvocationFeed } from './invocation-feed.js';
import { shareInvocations } from './invocation-sharing.js';

const ev = (id: string): InvocationEvent => ({
  type: 'received',
  id,
  function: 'f',
  version: 1,
  alias: null,
  node: '',
  at: 1,
  status: 'queued',
});

test("each server's stream sees its own and the other's events once; local feeds stay local", async () => {
  const logger = pino({ level: 'silent' });
  const bus = new InProcessEventBus(logger);
  const localA = new InvocationFeed();
  const localB = new InvocationFeed();
  const a = shareInvocations(localA, bus, 'A', logger);
  const b = shareInvocations(localB, bus, 'B', logger);
  const seenA: string[] = [];
  const seenB: string[] = [];
  const localOnlyB: string[] = [];
  a.feed.subscribe((e) => seenA.push(e.id));
  b.feed.subscribe((e) => seenB.push(e.id));
  localB.subscribe((e) => localOnlyB.push(e.id));
  localA.publish(ev('from-a'));
  localB.publish(ev('from-b'));
  for (let i = 0; i < 50 && (seenA.length < 2 || seenB.length < 2); i++)
    await new Promise((r) => setTimeout(r, 10));
  await new Promise((r) => setTimeout(r, 50));
  assert.deepEqual(seenA.sort(), ['from-a', 'from-b']);
  assert.deepEqual(seenB.sort(), ['from-a', 'from-b']);
  assert.deepEqual(
    localOnlyB,
    ['from-b'],
    "another server's events never reach this server's log and metrics",
  );
  a.close();
  b.close();
  localA.publish(ev('after'));
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(!seenB.includes('after'));
  await bus.close();
});
