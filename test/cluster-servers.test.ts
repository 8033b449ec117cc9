/**
 * Several stateless servers on one PostgreSQL database and one NATS: what they must agree on.
 * Two real servers (embedded composition, process backend) share a database and talk over a real
 * NATS event bus; each has its own home and its own instance id.
 */
import assert from 'node:assert/strict';
import { after, describe, test } from 'node:test';
import pino from 'pino';
import { type NatsEventBus, openNatsEventBus } from '../src/events/nats-event-bus.js';
import { type Embedded, startEmbedded } from '../src/main/embedded.js';
import { openPostgresStore } from '../src/store/postgres.js';
import { deployFiles } from './helpers/deploy.js';
import { testStoreFor } from './helpers/pg-store.js';
import { tempDir } from './helpers/tmp.js';

const NATS = process.env.AGNI_TEST_NATS_URL || 'nats://127.0.0.1:4222';
const logger = pino({ level: 'silent' });
const open: (() => Promise<unknown>)[] = [];

after(async () => {
  for (const close of open.reverse()) await close().catch(() => undefined);
});

async function server(db: string, instance: string): Promise<Embedded> {
  const home = tempDir(`agni-${instance}-`);
  const bus: NatsEventBus = await openNatsEventBus(NATS, logger);
  open.push(() => bus.close());
  const s = await startEmbedded({
    home,
    store: db,
    instance,
    bus,
    host: '127.0.0.1',
    port: 0,
    backend: 'process',
    slots: 4,
    maxPayloadBytes: 1024 * 1024,
    logger,
  });
  open.push(() => s.close());
  return s;
}

async function until<T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 30_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) assert.fail(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

interface Row {
  id: string;
  status: string;
  error: string | null;
}

async function invocations(s: Embedded, fn: string): Promise<Row[]> {
  const r = await fetch(`${s.url}/v1/functions/${fn}/invocations`);
  assert.equal(r.status, 200);
  return ((await r.json()) as { invocations: Row[] }).invocations;
}

describe('two servers on one database', () => {
  test('a server starting leaves the sync calls another server is running alone', async () => {
    const db = (await testStoreFor(tempDir('agni-db-'), true))!;
    const a = await server(db, 'server-a');
    await deployFiles(a.url, { 'agni.yaml': 'name: slow\nruntime: host\ncommand: "sleep 3; echo done"\n' });
    const call = fetch(`${a.url}/v1/functions/slow/invoke`, { method: 'POST', body: '' });
    const running = await until('the call runs on A', async () =>
      (await invocations(a, 'slow')).find((r) => r.status === 'running'),
    );
    const b = await server(db, 'server-b');
    const seenFromB = (await invocations(b, 'slow')).find((r) => r.id === running.id)!;
    assert.deepEqual([seenFromB.status, seenFromB.error], ['running', null], "B's start left A's call alone");
    const res = await call;
    assert.equal(res.status, 200);
    assert.equal((await res.text()).trim(), 'done');
    const done = (await invocations(b, 'slow')).find((r) => r.id === running.id)!;
    assert.deepEqual([done.status, done.error], ['succeeded', null]);
  });

  test('a per-second cron fires each tick once, though both servers run its schedule', async () => {
    const db = (await testStoreFor(tempDir('agni-db-'), true))!;
    const a = await server(db, 'server-a');
    const b = await server(db, 'server-b');
    // Deployed on A: B hears of it on the bus and starts the same schedule.
    await deployFiles(a.url, {
      'agni.yaml':
        'name: ticker\nruntime: host\ncommand: cat\ntriggers:\n  - cron: "* * * * * *"\n    payload: tick\n',
    });
    const onB = async () => {
      const r = (await (await fetch(`${b.url}/v1/triggers?function=ticker`)).json()) as {
        triggers: { state: string }[];
      };
      return r.triggers.find((t) => t.state === 'scheduled');
    };
    await until('B runs the schedule too', onB);
    // What both servers wrote, read from the database itself.
    const view = await openPostgresStore(db);
    open.push(() => view.close());
    // Several ticks, with both schedules running.
    await new Promise((r) => setTimeout(r, 5_000));
    // The trigger's count first: a tick is counted after its invocation is stored.
    const state = await view.db
      .selectFrom('trigger_state')
      .select('fires')
      .where('function', '=', 'ticker')
      .executeTakeFirstOrThrow();
    const rows = await view.db
      .selectFrom('async_invocations')
      .select(['id', 'idempotency_key'])
      .where('function', '=', 'ticker')
      .execute();
    const fires = Number(state.fires);
    assert.ok(fires >= 3, `several ticks fired: ${fires}`);
    assert.ok(
      fires <= rows.length && fires >= rows.length - 2,
      `each tick counted once: ${fires} fires, ${rows.length} invocations`,
    );
    assert.equal(new Set(rows.map((r) => r.idempotency_key)).size, rows.length);
    // Claimed, then stored: the claims read last cover every invocation read before.
    const ticks = await view.db
      .selectFrom('cron_ticks')
      .select('tick_at')
      .where('function', '=', 'ticker')
      .execute();
    assert.ok(
      ticks.length >= rows.length && ticks.length <= rows.length + 2,
      `one claim per tick fired: ${ticks.length} claims, ${rows.length} invocations`,
    );
    await fetch(`${a.url}/v1/functions/ticker`, { method: 'DELETE' });
  });

  test("a long poll of a job's items on server B wakes when the job changes on server A", async () => {
    const db = (await testStoreFor(tempDir('agni-db-'), true))!;
    const a = await server(db, 'server-a');
    const b = await server(db, 'server-b');
    await deployFiles(a.url, { 'agni.yaml': 'name: later\nruntime: host\ncommand: "sleep 2; cat"\n' });
    const post = (url: string, body?: object) =>
      fetch(url, {
        method: 'POST',
        ...(body ? { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) } : {}),
      });
    const job = (await (await post(`${a.url}/v1/jobs`, { function: 'later', concurrency: 2 })).json()) as {
      id: string;
    };
    const input = await fetch(`${a.url}/v1/jobs/${job.id}/inputs`, { method: 'POST', body: 'x' });
    assert.equal(input.status, 201, await input.text());
    assert.equal((await post(`${a.url}/v1/jobs/${job.id}/start`)).status, 200);
    // Held on B for up to 60 s, while the item runs and settles by A's account.
    const t0 = Date.now();
    const r = await fetch(`${b.url}/v1/jobs/${job.id}/items?since=0&wait=60`);
    assert.equal(r.status, 200);
    const { items } = (await r.json()) as { items: { index: number; status: string }[] };
    assert.equal(items.length, 1, 'the answer came with the settled item, not at the timeout');
    assert.ok(Date.now() - t0 < 55_000, 'woken by the change, before the wait ran out');
  });
});
