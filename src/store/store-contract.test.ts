/**
 * The Store contract, run against every dialect (SQLite and PostgreSQL): the same calls give the
 * same answers, numbers come back as numbers, and concurrent writers stay consistent.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Kysely, sql } from 'kysely';
import { newRecord } from '../app/invoker.js';
import { parseManifest } from '../core/manifest.js';
import { SqlAccessKeyRepository } from './access-key-repo.js';
import { SqlApiTokenRepository } from './api-token-repo.js';
import { type AsyncState, SqlAsyncRepo } from './async-sql.js';
import { SqlFunctionAliasRepository } from './function-alias-repo.js';
import { imageUsers } from './image-usage.js';
import { SqlJobRepository } from './job-repo.js';
import { type OciImageRecord, SqlOciImageRepository } from './oci-image-repo.js';
import type { Database } from './schema.js';
import { SqlSecretRepository } from './secret-repo.js';
import type { SqlStore } from './sql-store.js';
import type { ImageRecord, InvocationRecord } from './store.js';
import { addHostVersion, forEachDialect, newAsyncState, newJobRow } from './test-stores.js';
import { SqlTriggerStateRepo } from './trigger-state.js';

/** a moment past 2^31 ms and past 2^32, as every stored timestamp is */
const T = 1_767_225_600_123;

const deploy = (store: SqlStore, name: string, imageId = 'host') => addHostVersion(store, name, { imageId });

function asyncState(id: string, fn: string): AsyncState {
  return newAsyncState({ id, function: fn, nextAttemptAt: T, createdAt: T });
}

forEachDialect((db) => {
  test('functions and versions: numbers go up, never repeat after a removal of a version row, and list in name order', async () => {
    const { store } = db();
    const v1 = await deploy(store, 'b-fn');
    const v2 = await deploy(store, 'b-fn');
    await deploy(store, 'a-z');
    await deploy(store, 'a1');
    assert.equal(v1.version, 1);
    assert.equal(v2.version, 2);
    assert.equal(typeof v2.createdAt, 'number');
    const f = (await store.getFunction('b-fn'))!;
    assert.equal(f.version, 2);
    assert.equal(f.versions, 2);
    assert.equal(typeof f.versions, 'number');
    assert.equal(f.manifest.name, 'b-fn');
    assert.equal(f.manifest.retries, 0, 'manifest defaults are filled in');
    assert.deepEqual((await store.getLatestVersion('b-fn'))!.version, 2);
    assert.deepEqual((await store.getVersion('b-fn', 1))!.codeDir, '/code/b-fn');
    assert.equal(await store.getVersion('b-fn', 3), undefined);
    assert.equal(await store.getFunction('nope'), undefined);
    // Byte order, as SQLite sorts (a linguistic collation would put a-z last).
    assert.deepEqual(
      (await store.listFunctions()).map((x) => x.function),
      ['a-z', 'a1', 'b-fn'],
    );
    assert.deepEqual(
      (await store.listVersions('b-fn')).map((x) => x.version),
      [2, 1],
    );
    const removed = await store.removeFunction('b-fn');
    assert.deepEqual(removed.map((x) => x.version).sort(), [1, 2]);
    assert.equal(await store.getFunction('b-fn'), undefined);
    assert.deepEqual(await store.listVersions('b-fn'), []);
    assert.equal((await deploy(store, 'b-fn')).version, 1, 'a removed name starts again');
  });

  test('a version keeps its code image reference (cluster mode); embedded versions have none', async () => {
    const code = {
      ref: `10.0.0.1:5000/agni/fn/coded@sha256:${'a'.repeat(64)}`,
      image: `10.0.0.1:5000/agni/images@sha256:${'b'.repeat(64)}`,
    };
    const { store } = db();
    const v = await store.addVersion({
      function: 'coded',
      manifest: parseManifest('name: coded\nruntime: host\ncommand: run\n'),
      codeDir: '/code/coded',
      imageId: `oci:sha256:${'c'.repeat(64)}`,
      code,
    });
    assert.deepEqual(v.code, code);
    assert.deepEqual((await store.getVersion('coded', v.version))?.code, code);
    assert.deepEqual((await store.getLatestVersion('coded'))?.code, code);
    const plain = await deploy(store, 'uncoded');
    assert.equal((await store.getVersion('uncoded', plain.version))?.code, undefined);
  });

  test('20 concurrent deploys of one function get 20 distinct versions, from two stores', async () => {
    const { store } = db();
    const other = await db().openAnother();
    const made = await Promise.all(
      Array.from({ length: 20 }, (_, i) => deploy(i % 2 === 0 ? store : other, 'busy')),
    );
    const numbers = made.map((v) => v.version).sort((a, b) => a - b);
    assert.deepEqual(
      numbers,
      Array.from({ length: 20 }, (_, i) => i + 1),
    );
    const f = (await store.getFunction('busy'))!;
    assert.equal(f.versions, 20);
    assert.equal(f.version, 20, 'the newest is live');
  });

  test('invocations: create, patch, get, list newest first, fail the unfinished sync ones', async () => {
    const { store } = db();
    const v = await deploy(store, 'inv');
    const recs: InvocationRecord[] = [];
    for (let i = 0; i < 3; i++) {
      const r = newRecord(v, 10 + i, { received: T + 0.25, queued: T + 1.5 });
      r.createdAt = T + i;
      r.deadline = T + 30_000;
      await store.createInvocation(r);
      recs.push(r);
    }
    assert.deepEqual(await store.getInvocation(recs[0]!.id), recs[0], 'it comes back as it went in');
    await store.updateInvocation(recs[0]!.id, {
      status: 'succeeded',
      exitCode: 0,
      stdoutBytes: 5_000_000_000,
      stdoutTail: 'héllo ✓',
      phases: { received: T, finished: T + 2 },
      node: 'n1',
    });
    const got = (await store.getInvocation(recs[0]!.id))!;
    assert.equal(got.status, 'succeeded');
    assert.equal(got.exitCode, 0);
    assert.equal(got.stdoutBytes, 5_000_000_000);
    assert.equal(got.stdoutTail, 'héllo ✓');
    assert.deepEqual(got.phases, { received: T, finished: T + 2 });
    assert.equal(got.deadline, T + 30_000);
    assert.equal(typeof got.timeoutMs, 'number');
    assert.deepEqual(
      (await store.listInvocations({ function: 'inv', limit: 2 })).map((r) => r.id),
      [recs[2]!.id, recs[1]!.id],
    );
    // The dashboard's filters: status (any of), and a time window (since inclusive, until exclusive).
    const ids = async (q: Parameters<typeof store.listInvocations>[0]) =>
      (await store.listInvocations(q)).map((r) => r.id);
    assert.deepEqual(await ids({ function: 'inv', status: ['succeeded'], limit: 10 }), [recs[0]!.id]);
    assert.deepEqual(await ids({ function: 'inv', status: ['queued', 'succeeded'], limit: 10 }), [
      recs[2]!.id,
      recs[1]!.id,
      recs[0]!.id,
    ]);
    assert.deepEqual(await ids({ function: 'inv', since: T + 1, until: T + 2, limit: 10 }), [recs[1]!.id]);
    assert.deepEqual(await ids({ since: T + 2, limit: 10 }), [recs[2]!.id]);
    assert.equal(await store.getInvocation('inv_missing'), undefined);

    const asyncRec = newRecord(v, 0, {});
    assert.ok(await new SqlAsyncRepo(store.db).create(asyncRec, asyncState(asyncRec.id, 'inv')));
    assert.equal(await store.failUnfinished('stopped'), 2, 'the queued sync ones, not the async one');
    assert.equal((await store.getInvocation(recs[1]!.id))!.status, 'error');
    assert.equal((await store.getInvocation(recs[1]!.id))!.error, 'stopped');
    assert.equal((await store.getInvocation(asyncRec.id))!.status, 'queued');

    // Output may hold NUL, which PostgreSQL text cannot: it becomes U+FFFD there.
    await store.updateInvocation(recs[0]!.id, { stderrTail: 'a\0b', error: 'x\0' });
    const nul = (await store.getInvocation(recs[0]!.id))!;
    const expectNul = db().dialect === 'sqlite' ? ['a\0b', 'x\0'] : ['a\uFFFDb', 'x\uFFFD'];
    assert.deepEqual([nul.stderrTail, nul.error], expectNul);
    const withNul = { ...newRecord(v, 0, {}), stdoutTail: '\0\0' };
    await store.createInvocation(withNul);
    assert.equal((await store.getInvocation(withNul.id))!.stdoutTail.length, 2);
  });

  test('lazy invocation writes (a sync call record) are read back at once, by this store and another, in the order made', async () => {
    const { store, dialect, openAnother } = db();
    const v = await deploy(store, 'lazy');
    const r = newRecord(v, 3, { received: T });
    await store.createInvocation(r, { lazy: true });
    const other = await openAnother();
    assert.deepEqual(await other.getInvocation(r.id), r);
    await store.updateInvocation(r.id, { status: 'running', node: 'n1' }, { lazy: true });
    await store.updateInvocation(r.id, { status: 'succeeded', exitCode: 0 }, { lazy: true });
    const got = (await other.getInvocation(r.id))!;
    assert.deepEqual([got.status, got.node, got.exitCode], ['succeeded', 'n1', 0]);
    if (dialect === 'postgres') {
      // On connections of their own that do not wait for the log's flush; every other write does.
      const setting = async (k: Kysely<Database>) =>
        (await sql<{ synchronous_commit: string }>`show synchronous_commit`.execute(k)).rows[0]!
          .synchronous_commit;
      assert.ok(store.lazyDb, 'PostgreSQL keeps lazy connections');
      assert.equal(await setting(store.lazyDb), 'off');
      assert.equal(await setting(store.db), 'on');
    }
  });

  test('images: put replaces by name and returns the old one; ids in use come from versions', async () => {
    const { store } = db();
    const img = (id: string, name: string): ImageRecord => ({
      id,
      name,
      rootfs: `/images/${id}`,
      sizeBytes: 3_000_000_000,
      files: 12,
      source: 'import',
      createdAt: T,
    });
    assert.equal(await store.putImage(img('i1', 'base')), undefined);
    assert.deepEqual(await store.putImage(img('i2', 'base')), img('i1', 'base'));
    await store.putImage(img('i3', 'alpine'));
    assert.deepEqual(await store.getImage('base'), img('i2', 'base'));
    assert.deepEqual(await store.getImageById('i3'), img('i3', 'alpine'));
    assert.deepEqual(
      (await store.listImages()).map((i) => i.name),
      ['alpine', 'base'],
    );
    await deploy(store, 'uses-image', 'i2');
    assert.ok((await store.imageIdsInUse()).has('i2'));
    assert.deepEqual(
      (await imageUsers(store.db)).filter((u) => u.function === 'uses-image'),
      [{ function: 'uses-image', version: 1, imageId: 'i2' }],
    );
    await store.removeImage('alpine');
    assert.equal(await store.getImage('alpine'), undefined);
  });

  test('async: idempotency keys are unique, dead letters are listed and revived, callbacks are due', async () => {
    const { store } = db();
    const v = await deploy(store, 'asy');
    const repo = new SqlAsyncRepo(store.db);
    const unsettled = await repo.countUnsettled();
    const a = newRecord(v, 0, {});
    const b = newRecord(v, 0, {});
    assert.ok(await repo.create(a, { ...asyncState(a.id, 'asy'), idempotencyKey: 'k1', request: null }));
    assert.equal(await repo.create(b, { ...asyncState(b.id, 'asy'), idempotencyKey: 'k1' }), false);
    assert.equal(await store.getInvocation(b.id), undefined, 'nothing of the refused one is left');
    assert.equal((await repo.byKey('k1'))!.id, a.id);
    assert.equal(await repo.countUnsettled(), unsettled + 1);
    assert.ok((await repo.due(T, 10, new Set())).some((s) => s.id === a.id));
    assert.ok(!(await repo.due(T, 10, new Set([a.id]))).some((s) => s.id === a.id));
    assert.ok(!(await repo.due(T - 1, 10, new Set())).some((s) => s.id === a.id), 'not due before its time');
    assert.equal(typeof (await repo.nextDueAt()), 'number');
    assert.equal(await repo.claim(a.id, { owner: 'o', now: T, until: T + 1000 }), 1);
    await store.updateInvocation(a.id, { status: 'failed' });
    await repo.update(a.id, {
      settledAt: T + 5,
      nextAttemptAt: null,
      deadLetter: true,
      callbackState: 'pending',
      callbackNextAt: T + 6,
      release: true,
    });
    const dead = await repo.deadLetters({ function: 'asy', limit: 10 });
    assert.equal(dead.length, 1);
    assert.equal(dead[0]!.state.deadLetter, true);
    assert.equal(dead[0]!.state.attempts, 1);
    assert.equal(dead[0]!.invocation.status, 'failed');
    assert.equal(await repo.nextCallbackAt(), T + 6);
    assert.deepEqual(
      (await repo.callbacksDue(T + 6, 10)).map((s) => s.id),
      [a.id],
    );
    assert.equal(await repo.countUnsettled(), unsettled);
    assert.equal(await repo.revive(a.id, T + 10), true);
    assert.equal(await repo.revive(a.id, T + 10), false, 'only a dead letter is revived');
    const st = (await repo.get(a.id))!;
    assert.equal(st.attempts, 0);
    assert.equal(st.deadLetter, false);
    assert.equal(st.owner, null);
    assert.equal((await store.getInvocation(a.id))!.status, 'queued');
  });

  test('async: a small output is stored with its settle, replaced by a later one, and gone after a revive', async () => {
    const { store } = db();
    const v = await deploy(store, 'asy-out');
    const repo = new SqlAsyncRepo(store.db);
    const a = newRecord(v, 0, {});
    assert.ok(await repo.create(a, asyncState(a.id, 'asy-out')));
    assert.equal(await repo.output(a.id), undefined, 'nothing before the settle');
    // Every byte value, a NUL among them: bytes, not text (PostgreSQL text cannot hold a NUL).
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    await repo.update(a.id, {
      settledAt: T,
      nextAttemptAt: null,
      deadLetter: true,
      release: true,
      output: bytes,
    });
    assert.deepEqual(await repo.output(a.id), bytes);
    assert.equal((await repo.get(a.id))!.settledAt, T, 'the settle landed with it');
    await repo.update(a.id, { output: Buffer.alloc(0) });
    assert.deepEqual(await repo.output(a.id), Buffer.alloc(0), 'an empty output is stored, not absent');
    assert.equal(await repo.revive(a.id, T + 1), true);
    assert.equal(await repo.output(a.id), undefined, 'the failed run’s output went with the revive');
  });

  test('jobs: items are appended in order, claimed, settled once each, counted and retried', async () => {
    const { store } = db();
    const repo = new SqlJobRepository(store.db);
    await repo.create(
      newJobRow({ id: 'job1', function: 'f', reduce: 'r@3', version: 7, concurrency: 2, createdAt: T }),
    );
    const items = (n: number, from: number) =>
      Array.from({ length: n }, (_, i) => ({
        name: `in-${from + i}`,
        inputFile: 'inputs',
        inputOffset: (from + i) * 4_000_000_000,
        inputBytes: 10,
      }));
    assert.equal(await repo.addItems('job1', items(600, 0)), 0, 'more than one insert slice');
    assert.equal(await repo.addItems('job1', items(2, 600)), 600);
    const j = (await repo.get('job1'))!;
    assert.equal(j.inputs, 602);
    assert.equal(j.inputBytes, 6020);
    assert.equal(j.createdAt, T);
    assert.equal(j.version, 7);
    assert.equal(j.reduceVersion, null);
    assert.equal((await repo.item('job1', 601))!.inputOffset, 601 * 4_000_000_000);
    assert.deepEqual(
      (await repo.nextPending('job1', 3)).map((i) => i.index),
      [0, 1, 2],
    );
    await repo.markRunning('job1', 0, 'inv0', T);
    await repo.markRunning('job1', 1, 'inv1', T);
    const done = { outcome: 'ok', exitCode: 0, error: null, outputBytes: 7, finishedAt: T + 1 };
    assert.equal(await repo.settle('job1', 1, 'inv1', { status: 'succeeded', ...done }), true);
    assert.equal(await repo.settle('job1', 1, 'inv1', { status: 'succeeded', ...done }), false, 'once');
    assert.equal(await repo.settle('job1', 0, 'other', { status: 'failed', ...done }), false);
    assert.equal(await repo.settle('job1', 0, 'inv0', { status: 'failed', ...done, exitCode: 3 }), true);
    assert.equal(await repo.settle('job1', 2, null, { status: 'failed', ...done }), true, 'a pending item');
    assert.deepEqual(await repo.counts('job1'), {
      total: 602,
      pending: 599,
      running: 0,
      succeeded: 1,
      failed: 2,
    });
    assert.deepEqual(
      (await repo.items('job1', { since: 0, limit: 10 })).map((i) => [i.index, i.seq]),
      [
        [1, 1],
        [0, 2],
        [2, 3],
      ],
    );
    assert.deepEqual(
      (await repo.items('job1', { status: 'settled', limit: 10 })).map((i) => i.index),
      [0, 1, 2],
    );
    assert.equal((await repo.item('job1', 0))!.exitCode, 3);
    assert.equal((await repo.item('job1', 0))!.attempts, 1);
    assert.deepEqual(await repo.succeededOutputs('job1'), [{ index: 1, invocationId: 'inv1' }]);
    await repo.markRunning('job1', 5, 'inv5', T);
    assert.deepEqual(await repo.findByInvocation('inv5'), { jobId: 'job1', index: 5 });
    assert.equal(await repo.findByInvocation('inv1'), undefined, 'only running items');
    assert.equal(await repo.resetFailed('job1'), 2);
    await repo.update('job1', { status: 'running', run: 2, startedAt: T + 9, reduceStatus: 'skipped' });
    const j2 = (await repo.get('job1'))!;
    assert.equal(j2.status, 'running');
    assert.equal(j2.startedAt, T + 9);
    assert.deepEqual(
      (await repo.list({ limit: 5, status: ['running'] })).map((x) => x.id),
      ['job1'],
    );
    await repo.remove('job1');
    assert.equal(await repo.get('job1'), undefined);
    assert.deepEqual(await repo.items('job1', { limit: 5 }), []);
  });

  test('trigger state: synced with deploys, fires counted in order, settlements follow the last fire', async () => {
    const { store } = db();
    const repo = new SqlTriggerStateRepo(store.db);
    await repo.sync('tf', [
      { kind: 'cron', spec: '* * * * *' },
      { kind: 'webhook', spec: 'POST /x' },
    ]);
    await repo.fired('tf', 0, T + 10, { invocationId: 'i2', status: 'running', error: null });
    await repo.fired('tf', 0, T, { invocationId: 'i1', status: 'running', error: null });
    let rows = await repo.list();
    assert.equal(rows.length, 2);
    assert.equal(rows[0]!.fires, 2, 'an older fire recorded after a newer one counts');
    assert.equal(rows[0]!.lastFiredAt, T + 10, 'but the newer one stays the last');
    assert.equal(rows[0]!.lastInvocationId, 'i2');
    await repo.settled('i2', 'succeeded', null);
    await repo.settled('i1', 'failed', 'x');
    rows = await repo.list();
    assert.equal(rows[0]!.lastStatus, 'succeeded');
    await repo.sync('tf', [{ kind: 'cron', spec: '* * * * *' }]);
    rows = await repo.list();
    assert.equal(rows.length, 1, 'a removed trigger loses its row');
    assert.equal(rows[0]!.fires, 2, 'an unchanged one keeps its count');
    await repo.sync('tf', [{ kind: 'cron', spec: '0 * * * *' }]);
    assert.equal((await repo.list())[0]!.fires, 0, 'a changed spec starts afresh');
  });

  test('trigger state: 20 concurrent fires are all counted, from two stores', async () => {
    const { store } = db();
    const other = await db().openAnother();
    await new SqlTriggerStateRepo(store.db).sync('tc', [{ kind: 'subject', spec: 'agni.x' }]);
    const repos = [new SqlTriggerStateRepo(store.db), new SqlTriggerStateRepo(other.db)];
    await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        repos[i % 2]!.fired('tc', 0, T + (i % 5), { invocationId: `i${i}`, status: 'running', error: null }),
      ),
    );
    const row = (await repos[0]!.list()).find((r) => r.function === 'tc')!;
    assert.equal(row.fires, 20);
    assert.equal(row.lastFiredAt, T + 4);
  });

  test('OCI image records: put is an upsert, digests referenced are collected', async () => {
    const { store } = db();
    const repo = new SqlOciImageRepository(store.db);
    const rec = (name: string, m: string): OciImageRecord => ({
      name,
      manifestDigest: m,
      indexDigest: null,
      configDigest: `${m}-config`,
      layers: [
        {
          digest: `${m}-layer`,
          size: 5_000_000_000,
          mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip',
        },
      ],
      platform: 'linux/amd64',
      sizeBytes: 5_000_000_100,
      createdAt: T,
    });
    await repo.put(rec('r/a:1', 'sha256:1'));
    await repo.put(rec('r/a:1', 'sha256:2'));
    await repo.put({ ...rec('r/b:1', 'sha256:3'), indexDigest: 'sha256:idx' });
    assert.deepEqual(await repo.get('r/a:1'), rec('r/a:1', 'sha256:2'));
    assert.deepEqual(
      (await repo.list()).map((r) => r.name),
      ['r/a:1', 'r/b:1'],
    );
    assert.deepEqual([...(await repo.referencedDigests())].sort(), [
      'sha256:2',
      'sha256:2-config',
      'sha256:2-layer',
      'sha256:3',
      'sha256:3-config',
      'sha256:3-layer',
      'sha256:idx',
    ]);
    assert.equal(await repo.remove('r/a:1'), true);
    assert.equal(await repo.remove('r/a:1'), false);
  });

  test('a removed newest version is never handed out again, even after a rollback', async () => {
    const { store } = db();
    for (let i = 0; i < 3; i++) await deploy(store, 'roll');
    assert.equal((await store.setLiveVersion('roll', 1))!.version, 1);
    assert.ok('removed' in ((await store.removeVersion('roll', 3)) ?? {}));
    assert.equal((await store.getFunction('roll'))!.newest, 2);
    assert.equal((await deploy(store, 'roll')).version, 4);
  });

  test('function aliases: upsert with a split (a double), listed by name', async () => {
    const { store } = db();
    const repo = new SqlFunctionAliasRepository(store.db, () => T);
    await repo.set('fa', 'prod', { version: 1 });
    await repo.set('fa', 'prod', { version: 2, split: { version: 3, weight: 0.125 } });
    await repo.set('fa', 'beta', { version: 1 });
    assert.deepEqual(await repo.get('fa', 'prod'), {
      function: 'fa',
      name: 'prod',
      version: 2,
      split: { version: 3, weight: 0.125 },
      createdAt: T,
      updatedAt: T,
    });
    assert.deepEqual(
      (await repo.list('fa')).map((a) => a.name),
      ['beta', 'prod'],
    );
    assert.equal(await repo.remove('fa', 'beta'), true);
    assert.equal(await repo.remove('fa', 'beta'), false);
  });

  test('access keys: a taken name or key id is refused, lookups and last use', async () => {
    const { store } = db();
    const repo = new SqlAccessKeyRepository(store.db);
    assert.equal(await repo.any(), false);
    const k = { name: 'ci', accessKeyId: 'AKIAONE', secretSealed: 'sealed', createdAt: T };
    assert.equal(await repo.insert(k), true);
    assert.equal(await repo.insert({ ...k, accessKeyId: 'AKIATWO' }), false, 'the name is taken');
    assert.equal(await repo.insert({ ...k, name: 'other' }), false, 'the key id is taken');
    assert.equal(await repo.any(), true);
    await repo.touch('AKIAONE', T + 5);
    assert.deepEqual(await repo.byAccessKeyId('AKIAONE'), { ...k, lastUsedAt: T + 5 });
    assert.deepEqual(
      (await repo.list()).map((r) => r.name),
      ['ci'],
    );
    assert.equal(await repo.remove('ci'), true);
    assert.equal(await repo.byAccessKeyId('AKIAONE'), undefined);
  });

  test('api tokens: a taken name is refused, found by hash, scopes round-trip, last use, revoke', async () => {
    const { store } = db();
    const repo = new SqlApiTokenRepository(store.db);
    assert.equal(await repo.any(), false);
    const t = { name: 'ci', tokenHash: 'a'.repeat(64), scopes: ['deploy', 'invoke:fa,fb'], createdAt: T };
    assert.equal(await repo.insert(t), true);
    assert.equal(await repo.insert({ ...t, tokenHash: 'b'.repeat(64) }), false, 'the name is taken');
    assert.equal(await repo.any(), true);
    await repo.touch('ci', T + 7);
    assert.deepEqual(await repo.byHash('a'.repeat(64)), { ...t, lastUsedAt: T + 7 });
    assert.equal(await repo.byHash('c'.repeat(64)), undefined);
    assert.deepEqual(
      (await repo.list()).map((r) => r.name),
      ['ci'],
    );
    assert.equal(await repo.remove('ci'), true);
    assert.equal(await repo.remove('ci'), false);
    assert.equal(await repo.any(), false);
  });

  test('secrets: put creates then replaces (created_at kept), list by name, remove', async () => {
    const { store } = db();
    const repo = new SqlSecretRepository(store.db);
    assert.equal(await repo.put({ name: 'b', valueSealed: 'v1:x', size: 3 }, T), true);
    assert.equal(await repo.put({ name: 'a', valueSealed: 'v1:y', size: 5 }, T), true);
    assert.equal(await repo.put({ name: 'b', valueSealed: 'v1:z', size: 9 }, T + 1), false);
    assert.deepEqual(await repo.get('b'), {
      name: 'b',
      valueSealed: 'v1:z',
      size: 9,
      createdAt: T,
      updatedAt: T + 1,
    });
    assert.deepEqual(
      (await repo.list()).map((r) => r.name),
      ['a', 'b'],
    );
    assert.equal(await repo.remove('a'), true);
    assert.equal(await repo.get('a'), undefined);
  });
});
