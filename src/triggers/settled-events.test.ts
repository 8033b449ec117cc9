/**
 * Settles across servers: a waiter on one server, the settle on another, the real NATS between
 * them and the real store (PostgreSQL) as the truth.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pino from 'pino';
import { newRecord } from '../app/invoker.js';
import { parseManifest } from '../core/manifest.js';
import { type NatsEventBus, openNatsEventBus } from '../events/nats-event-bus.js';
import { SqlAsyncRepo } from '../store/async-sql.js';
import type { VersionRecord } from '../store/store.js';
import { newAsyncState, openTestDb, type TestDb } from '../store/test-stores.js';
import type { AsyncSubmitter } from './async-types.js';
import { ClusterSettles, INVOCATION_SETTLED, type SettledRead } from './settled-events.js';

const NATS = process.env.AGNI_TEST_NATS_URL || 'nats://127.0.0.1:4222';
const logger = pino({ level: 'silent' });

let db: TestDb;
let busA: NatsEventBus;
let busB: NatsEventBus;
let repo: SqlAsyncRepo;
let v: VersionRecord;
let read: SettledRead;

/** submissions are not what these tests are about: this side of the queue refuses them */
const noSubmit: AsyncSubmitter = {
  submit: async () => {
    throw new Error('not used');
  },
  output: async () => undefined,
  wait: async () => {
    throw new Error('not used');
  },
  onSettled: () => () => {},
};

before(async () => {
  db = await openTestDb('postgres');
  busA = await openNatsEventBus(NATS, logger);
  busB = await openNatsEventBus(NATS, logger);
  repo = new SqlAsyncRepo(db.store.db);
  v = await db.store.addVersion({
    function: 'f',
    manifest: parseManifest('name: f\nruntime: host\ncommand: x\n'),
    codeDir: '/nowhere',
    imageId: 'host',
  });
  read = async (id) => {
    const state = await repo.get(id);
    const record = await db.store.getInvocation(id);
    return state && record && { record, settled: state.settledAt !== null, source: state.source };
  };
});

after(async () => {
  await busA?.close();
  await busB?.close();
  await db?.close();
});

async function accepted(): Promise<string> {
  const r = newRecord(v, 0, {});
  assert.ok(await repo.create(r, newAsyncState({ id: r.id, function: 'f' })));
  return r.id;
}

/** what server A's queue does when an invocation ends: the store first, then the event */
async function settleOnA(id: string, event = true): Promise<void> {
  await db.store.updateInvocation(id, { status: 'succeeded', exitCode: 0 });
  await repo.update(id, { settledAt: Date.now(), nextAttemptAt: null, release: true });
  if (event) await busA.publish(INVOCATION_SETTLED, { id, status: 'succeeded' });
}

test('a wait on server B ends when server A settles the invocation, long before B would look by itself', async () => {
  const onB = new ClusterSettles(noSubmit, busB, read, { logger, pollMs: 120_000 });
  try {
    const id = await accepted();
    const waiting = onB.wait(id, 60_000);
    await busB.flush();
    await new Promise((r) => setTimeout(r, 200));
    const t0 = Date.now();
    await settleOnA(id);
    const rec = await waiting;
    assert.equal(rec.status, 'succeeded');
    assert.ok(Date.now() - t0 < 60_000, 'woken by the event, not by the timeout');
  } finally {
    onB.close();
  }
});

test('a lost event costs a waiter time, not a hang: it looks at the store every pollMs', async () => {
  const onB = new ClusterSettles(noSubmit, busB, read, { logger, pollMs: 300 });
  try {
    const id = await accepted();
    const waiting = onB.wait(id, 60_000);
    await settleOnA(id, false);
    assert.equal((await waiting).status, 'succeeded');
  } finally {
    onB.close();
  }
});

test('an event is a hint: one naming an invocation that has not settled ends no wait', async () => {
  const onB = new ClusterSettles(noSubmit, busB, read, { logger, pollMs: 120_000 });
  try {
    const id = await accepted();
    const waiting = onB.wait(id, 1_500);
    await busB.flush();
    await busA.publish(INVOCATION_SETTLED, { id, status: 'succeeded' });
    const rec = await waiting;
    assert.equal(rec.status, 'queued', 'the wait ran to its timeout and answered what the store holds');
  } finally {
    onB.close();
  }
});

test('settle listeners on B get the stored record of a settle on A, once however often it is heard', async () => {
  const onB = new ClusterSettles(noSubmit, busB, read, { logger, pollMs: 120_000 });
  const heard: string[] = [];
  onB.onSettled((rec, how) => heard.push(`${rec.id}:${rec.status}:${how?.source}`));
  try {
    await busB.flush();
    const id = await accepted();
    await settleOnA(id);
    await busA.publish(INVOCATION_SETTLED, { id, status: 'succeeded' });
    const marker = await accepted();
    await settleOnA(marker);
    for (let i = 0; i < 200 && heard.length < 2; i++) await new Promise((r) => setTimeout(r, 50));
    await new Promise((r) => setTimeout(r, 300));
    // with who submitted it (a job's items need no trigger's look-up), read with the record
    assert.deepEqual(heard.sort(), [`${id}:succeeded:api`, `${marker}:succeeded:api`].sort());
    // a settle of B's own queue is told with what its queue said
    onB.settledHere({ ...(await db.store.getInvocation(id))!, id: 'inv-local' }, { source: 'job:j1' });
    assert.equal(heard.at(-1), 'inv-local:succeeded:job:j1');
  } finally {
    onB.close();
  }
});

test('a wait for an invocation that does not exist is refused as not found', async () => {
  const onB = new ClusterSettles(noSubmit, busB, read, { logger });
  try {
    await assert.rejects(
      onB.wait('inv-none', 1000),
      (e: Error & { code?: string }) => e.code === 'invocation_not_found',
    );
  } finally {
    onB.close();
  }
});
