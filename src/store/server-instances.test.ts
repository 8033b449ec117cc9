/** Which unfinished sync invocations recovery may fail, with several servers on one database. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { newRecord } from '../app/invoker.js';
import { parseManifest } from '../core/manifest.js';
import { GONE, ServerInstance } from './server-instances.js';
import { SqlStore } from './sql-store.js';
import type { VersionRecord } from './store.js';
import { forEachDialect } from './test-stores.js';

const LEASE = 30_000;

forEachDialect((db) => {
  async function setup(): Promise<{ a: SqlStore; b: SqlStore; v: VersionRecord }> {
    const { store } = db();
    // Each test counts what recovery fails: earlier tests' calls are over.
    await store.db
      .updateTable('invocations')
      .set({ status: 'succeeded' })
      .where('status', 'in', ['queued', 'running'])
      .execute();
    // Two servers on one database: their own instance ids over the same tables.
    const a = new SqlStore(store.db, `a-${Math.random()}`);
    const b = new SqlStore(store.db, `b-${Math.random()}`);
    const fn = `f${Math.random().toString(36).slice(2, 8)}`;
    const v = await a.addVersion({
      function: fn,
      manifest: parseManifest(`name: ${fn}\nruntime: host\ncommand: x\n`),
      codeDir: '/nowhere',
      imageId: 'host',
    });
    return { a, b, v };
  }

  async function running(s: SqlStore, v: VersionRecord): Promise<string> {
    const r = { ...newRecord(v, 0, {}), status: 'running' as const };
    await s.createInvocation(r);
    return r.id;
  }

  const status = async (s: SqlStore, id: string) => (await s.getInvocation(id))!.status;

  test('a server starting leaves the running calls of a server that beats alone', async () => {
    const { a, b, v } = await setup();
    const now = Date.now();
    await a.beat(now);
    const onA = await running(a, v);
    await b.beat(now);
    assert.equal(await b.failUnfinished('interrupted', { leaseMs: LEASE, now }), 0);
    assert.equal(await status(b, onA), 'running');
  });

  test("at start a server fails its own previous life's calls and rows from before owners", async () => {
    const { a, b, v } = await setup();
    const now = Date.now();
    await a.beat(now);
    await b.beat(now);
    const mine = await running(b, v);
    const theirs = await running(a, v);
    const legacy = await running(b, v);
    await db().store.db.updateTable('invocations').set({ owner: null }).where('id', '=', legacy).execute();
    assert.equal(await b.failUnfinished('interrupted', { leaseMs: LEASE, now }), 2);
    assert.deepEqual(
      [await status(b, mine), await status(b, legacy), await status(b, theirs)],
      ['error', 'error', 'running'],
    );
    assert.equal((await b.getInvocation(mine))!.error, 'interrupted');
  });

  test('the periodic sweep fails only the calls of a server silent past its lease, never its own', async () => {
    const { a, b, v } = await setup();
    const t0 = Date.now();
    await a.beat(t0);
    await b.beat(t0);
    const onA = await running(a, v);
    const onB = await running(b, v);
    // Within A's lease: nothing.
    assert.equal(await b.failUnfinished('gone', { scope: 'gone', leaseMs: LEASE, now: t0 + LEASE - 1 }), 0);
    // A stopped beating; B goes on.
    const later = t0 + LEASE + 1;
    await b.beat(later);
    assert.equal(await b.failUnfinished('gone', { scope: 'gone', leaseMs: LEASE, now: later }), 1);
    assert.equal(await status(b, onA), 'error');
    assert.equal(await status(b, onB), 'running');
    // A server never seen (no row at all) is gone too.
    const ghost = new SqlStore(db().store.db, `ghost-${Math.random()}`);
    const onGhost = await running(ghost, v);
    assert.equal(await b.failUnfinished('gone', { scope: 'gone', leaseMs: LEASE, now: later }), 1);
    assert.equal(await status(b, onGhost), 'error');
  });

  test("a server that stops beating has its calls failed by one that goes on, the other's own left alone", async () => {
    const { a, b, v } = await setup();
    const logger = pino({ level: 'silent' });
    const lease = 600;
    const onA = new ServerInstance(a, { logger, leaseMs: lease });
    const onB = new ServerInstance(b, { logger, leaseMs: lease });
    await onA.start();
    await onB.start();
    const callOnA = await running(a, v);
    const callOnB = await running(b, v);
    try {
      // A dies (its beats stop); B beats on, and after a lease of its own beats it sweeps.
      await onA.stop();
      const end = Date.now() + 20_000;
      while ((await status(b, callOnA)) === 'running') {
        assert.ok(Date.now() < end, "A's call still running 20 s after A stopped beating");
        await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal((await b.getInvocation(callOnA))!.error, GONE);
      assert.equal(await status(b, callOnB), 'running');
    } finally {
      await onB.stop();
    }
  });
});
