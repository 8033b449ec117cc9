import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newRecord } from '../app/invoker.js';
import { parseManifest } from '../core/manifest.js';
import { type AsyncState, type Lease, SqlAsyncRepo } from './async-sql.js';
import type { SqlStore } from './sql-store.js';
import type { VersionRecord } from './store.js';
import { forEachDialect, newAsyncState } from './test-stores.js';

function state(id: string, attempts: number, maxAttempts: number): AsyncState {
  return newAsyncState({ id, function: 'f', attempts, maxAttempts });
}

const lease = (owner: string, now = Date.now(), ms = 60_000): Lease => ({ owner, now, until: now + ms });

async function deployF(store: SqlStore, fn = 'f'): Promise<VersionRecord> {
  return store.addVersion({
    function: fn,
    manifest: parseManifest(`name: ${fn}\nruntime: host\ncommand: x\n`),
    codeDir: '/nowhere',
    imageId: 'host',
  });
}

async function enqueue(repo: SqlAsyncRepo, v: VersionRecord, maxAttempts = 3) {
  const r = newRecord(v, 0, {});
  assert.ok(await repo.create(r, state(r.id, 0, maxAttempts)));
  return r.id;
}

/** what the queue does when an attempt ends and a retry is owed */
async function endForRetry(store: SqlStore, repo: SqlAsyncRepo, id: string) {
  await store.updateInvocation(id, { status: 'queued' });
  await repo.update(id, { nextAttemptAt: 0, release: true });
}

forEachDialect((db) => {
  test('a restart re-queues running attempts uncounted and ended-but-unsettled ones with one attempt owed', async () => {
    const { store } = db();
    const v = await deployF(store);
    const repo = new SqlAsyncRepo(store.db);
    const running = await enqueue(repo, v);
    const failedMidRetry = await enqueue(repo, v);
    const lastFailedUnsettled = await enqueue(repo, v, 2);
    const settled = await enqueue(repo, v, 1);
    const me = lease('embedded');
    assert.equal(await repo.claim(running, me), 1);
    // Attempts that ended: the invoker wrote the outcome, then the process died before the queue did.
    await repo.claim(failedMidRetry, me);
    await store.updateInvocation(failedMidRetry, { status: 'failed' });
    assert.equal(await repo.claim(lastFailedUnsettled, me), 1);
    await endForRetry(store, repo, lastFailedUnsettled);
    assert.equal(await repo.claim(lastFailedUnsettled, me), 2);
    await store.updateInvocation(lastFailedUnsettled, { status: 'failed' });
    await repo.claim(settled, me);
    await store.updateInvocation(settled, { status: 'succeeded' });
    await repo.update(settled, { settledAt: Date.now(), release: true });

    // The same owner restarting: its leases are not expired, but its attempts are dead.
    assert.equal(await repo.requeueInterrupted(Date.now(), 'embedded'), 3);
    const due = await repo.due(Date.now(), 10, new Set());
    assert.deepEqual(due.map((d) => d.id).sort(), [running, failedMidRetry, lastFailedUnsettled].sort());
    assert.equal((await repo.get(running))!.attempts, 0, 'the interrupted attempt is not counted');
    assert.equal((await repo.get(failedMidRetry))!.attempts, 1, 'an attempt that ended counts');
    assert.equal((await repo.get(lastFailedUnsettled))!.attempts, 1, 'one attempt is still owed');
    assert.equal((await repo.get(running))!.owner, null, 'requeued attempts are released');
    assert.equal((await store.getInvocation(settled))!.status, 'succeeded', 'settled ones stay as they are');
    assert.equal(await repo.claim(running, lease('embedded')), 1, 'a requeued attempt can be claimed again');
  });

  test('a claim is a compare-and-set: a held lease refuses others until it expires', async () => {
    const { store } = db();
    const v = await deployF(store, 'cas');
    const repo = new SqlAsyncRepo(store.db);
    const id = await enqueue(repo, v);
    const t0 = Date.now();
    assert.equal(await repo.claim(id, lease('a', t0, 1000)), 1);
    assert.equal(
      await repo.claim(id, lease('b', t0 + 10)),
      undefined,
      'a running attempt is not claimed twice',
    );
    const st = (await repo.get(id))!;
    assert.equal(st.owner, 'a');
    assert.equal(st.leaseUntil, t0 + 1000);
    assert.equal(typeof st.leaseUntil, 'number');
    assert.equal(await repo.renew(id, lease('a', t0 + 500, 1000)), true);
    assert.equal(await repo.renew(id, lease('b', t0 + 500, 1000)), false, 'only the owner renews');
    assert.equal((await repo.get(id))!.leaseUntil, t0 + 1500);

    // Queued again without a release (the owner died in between): others wait for the lease.
    await store.updateInvocation(id, { status: 'queued' });
    assert.equal(await repo.claim(id, lease('b', t0 + 1400)), undefined, 'the lease has not expired');
    assert.equal(await repo.claim(id, lease('b', t0 + 1501)), 2, 'an expired lease is taken over');
    assert.equal((await repo.get(id))!.owner, 'b');
    assert.equal(await repo.renew(id, lease('a', t0 + 1600)), false, 'the old owner lost it');
  });

  test("recovery takes only attempts whose lease expired, never another live owner's", async () => {
    const { store } = db();
    const v = await deployF(store, 'rec');
    const repo = new SqlAsyncRepo(store.db);
    const live = await enqueue(repo, v);
    const expired = await enqueue(repo, v);
    const now = Date.now();
    await repo.claim(live, lease('server-a', now, 60_000));
    await repo.claim(expired, lease('server-a', now - 120_000, 60_000));
    assert.equal(await repo.requeueInterrupted(now, 'server-b'), 1);
    assert.equal((await store.getInvocation(live))!.status, 'running', 'a held attempt keeps running');
    assert.equal((await repo.get(live))!.owner, 'server-a');
    assert.equal((await store.getInvocation(expired))!.status, 'queued');
    assert.equal((await repo.get(expired))!.attempts, 0);
  });

  test("a running attempt whose owner's lease expired is taken over by exactly one server, uncounted", async () => {
    const { store } = db();
    const other = await db().openAnother();
    const v = await deployF(store, 'takeover');
    const repoA = new SqlAsyncRepo(store.db);
    const repoB = new SqlAsyncRepo(other.db);
    const id = await enqueue(repoA, v);
    const t0 = Date.now();
    assert.equal(await repoA.claim(id, lease('server-a', t0, 1000)), 1);
    // server-a dies mid-run: the row stays running; no restart of server-a comes.
    assert.equal(await repoB.takeOver(id, lease('server-b', t0 + 500)), undefined, 'the lease still holds');
    assert.equal(
      await repoB.claim(id, lease('server-b', t0 + 2000)),
      undefined,
      'a claim wants a queued one',
    );
    const later = t0 + 2000;
    const [b, c] = await Promise.all([
      repoB.takeOver(id, lease('server-b', later)),
      repoA.takeOver(id, lease('server-c', later)),
    ]);
    assert.equal([b, c].filter((n) => n !== undefined).length, 1, 'one taker wins');
    assert.equal(b ?? c, 1, 'the interrupted attempt is not counted again');
    const st = (await repoA.get(id))!;
    assert.ok(st.owner === 'server-b' || st.owner === 'server-c');
    assert.equal(st.attempts, 1);
    assert.equal(await repoA.renew(id, lease('server-a', later)), false, 'the dead owner lost it');
    await repoA.update(id, { settledAt: Date.now(), release: true });
    assert.equal(
      await repoA.takeOver(id, lease('server-d', later + 10_000_000)),
      undefined,
      'settled: nothing to take',
    );
  });

  test('an ended attempt whose end was never stored is resumed by exactly one server, counted, within its attempts', async () => {
    const { store } = db();
    const other = await db().openAnother();
    const v = await deployF(store, 'resume');
    const repoA = new SqlAsyncRepo(store.db);
    const repoB = new SqlAsyncRepo(other.db);
    const id = await enqueue(repoA, v, 2);
    const t0 = Date.now();
    assert.equal(await repoA.claim(id, lease('server-a', t0, 1000)), 1);
    assert.equal(
      await repoB.resumeEnded(id, lease('server-b', t0 + 2000)),
      undefined,
      'running: a takeover’s',
    );
    // The function failed (the invoker stored that); the retry's write was lost in an outage.
    await store.updateInvocation(id, { status: 'failed' });
    assert.equal(
      await repoB.resumeEnded(id, lease('server-b', t0 + 500)),
      undefined,
      'its owner may still write it',
    );
    const later = t0 + 2000;
    const [b, c] = await Promise.all([
      repoB.resumeEnded(id, lease('server-b', later)),
      repoA.resumeEnded(id, lease('server-c', later)),
    ]);
    assert.equal([b, c].filter((n) => n !== undefined).length, 1, 'one taker wins');
    assert.equal(b ?? c, 2, 'the ended attempt counts');
    assert.equal((await store.getInvocation(id))!.status, 'running');
    // The second attempt ends too, and its settle is lost as well: a third run, never a third attempt.
    await store.updateInvocation(id, { status: 'succeeded' });
    assert.equal(
      await repoA.resumeEnded(id, lease('server-a', later + 120_000)),
      2,
      'the last attempt again',
    );
    // Its end, written whole this time.
    await repoA.update(id, {
      settledAt: later + 120_001,
      nextAttemptAt: null,
      release: true,
      record: { status: 'succeeded', error: null },
    });
    const st = (await repoA.get(id))!;
    assert.equal(st.owner, null);
    assert.equal(st.settledAt, later + 120_001);
    const rec = (await store.getInvocation(id))!;
    assert.equal(rec.status, 'succeeded');
    assert.equal(rec.error, null);
    assert.equal(await repoA.resumeEnded(id, lease('server-d', later + 10_000_000)), undefined, 'settled');
    // A queued retry not due yet is the claim's, when due.
    const waiting = await enqueue(repoA, v, 3);
    await repoA.claim(waiting, lease('server-a', t0, 1000));
    await repoA.update(waiting, {
      nextAttemptAt: later + 50_000,
      release: true,
      record: { status: 'queued' },
    });
    assert.equal(
      (await store.getInvocation(waiting))!.status,
      'queued',
      'the record and the release in one write',
    );
    assert.equal(await repoB.resumeEnded(waiting, lease('server-b', later + 60_000)), undefined, 'queued');
    assert.equal(await repoB.claim(waiting, lease('server-b', later + 60_000)), 2);
  });

  test('two claimers racing over 20 invocations never both claim one', async () => {
    const { store } = db();
    const other = await db().openAnother();
    const v = await deployF(store, 'race');
    const repoA = new SqlAsyncRepo(store.db);
    const repoB = new SqlAsyncRepo(other.db);
    const ids: string[] = [];
    for (let i = 0; i < 20; i++) ids.push(await enqueue(repoA, v));
    const results = await Promise.all(
      ids.flatMap((id) => [
        repoA.claim(id, lease('a')).then((n) => ({ id, who: 'a', n })),
        repoB.claim(id, lease('b')).then((n) => ({ id, who: 'b', n })),
      ]),
    );
    for (const id of ids) {
      const won = results.filter((r) => r.id === id && r.n !== undefined);
      assert.equal(won.length, 1, `${id} claimed by ${won.map((w) => w.who).join(' and ') || 'nobody'}`);
      assert.equal(won[0]!.n, 1);
      assert.equal((await repoA.get(id))!.owner, won[0]!.who);
      assert.equal((await repoA.get(id))!.attempts, 1);
    }
  });
});
