import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newRecord } from '../app/invoker.js';
import { parseManifest } from '../core/manifest.js';
import { type AsyncState, SqlAsyncRepo } from './async-sql.js';
import { openSqliteStore } from './sqlite.js';

function state(id: string, attempts: number, maxAttempts: number): AsyncState {
  return {
    id,
    function: 'f',
    attempts,
    maxAttempts,
    nextAttemptAt: 0,
    idempotencyKey: null,
    callbackUrl: null,
    callbackState: null,
    callbackAttempts: 0,
    callbackNextAt: null,
    callbackError: null,
    request: null,
    deadLetter: false,
    source: 'api',
    settledAt: null,
    createdAt: Date.now(),
  };
}

test('a restart re-queues running attempts uncounted and ended-but-unsettled ones with one attempt owed', async () => {
  const store = await openSqliteStore(':memory:');
  try {
    const v = await store.addVersion({
      function: 'f',
      manifest: parseManifest('name: f\nruntime: host\ncommand: x\n'),
      codeDir: '/nowhere',
      imageId: 'host',
    });
    const repo = new SqlAsyncRepo(store.db);
    const running = newRecord(v, 0, {});
    const failedMidRetry = newRecord(v, 0, {});
    const lastFailedUnsettled = newRecord(v, 0, {});
    const settled = newRecord(v, 0, {});
    assert.ok(await repo.create(running, state(running.id, 0, 3)));
    assert.ok(await repo.create(failedMidRetry, state(failedMidRetry.id, 0, 3)));
    assert.ok(await repo.create(lastFailedUnsettled, state(lastFailedUnsettled.id, 0, 2)));
    assert.ok(await repo.create(settled, state(settled.id, 0, 1)));
    assert.equal(await repo.claim(running.id), 1);
    // Attempts that ended: the invoker wrote the outcome, then the process died before the queue did.
    await repo.claim(failedMidRetry.id);
    await store.updateInvocation(failedMidRetry.id, { status: 'failed' });
    await repo.claim(lastFailedUnsettled.id);
    await repo.claim(lastFailedUnsettled.id);
    await store.updateInvocation(lastFailedUnsettled.id, { status: 'failed' });
    await repo.claim(settled.id);
    await store.updateInvocation(settled.id, { status: 'succeeded' });
    await repo.update(settled.id, { settledAt: Date.now() });

    assert.equal(await repo.requeueInterrupted(Date.now()), 3);
    const due = await repo.due(Date.now(), 10, new Set());
    assert.deepEqual(
      due.map((d) => d.id).sort(),
      [running.id, failedMidRetry.id, lastFailedUnsettled.id].sort(),
    );
    assert.equal((await repo.get(running.id))!.attempts, 0, 'the interrupted attempt is not counted');
    assert.equal((await repo.get(failedMidRetry.id))!.attempts, 1, 'an attempt that ended counts');
    assert.equal((await repo.get(lastFailedUnsettled.id))!.attempts, 1, 'one attempt is still owed');
    assert.equal(
      (await store.getInvocation(settled.id))!.status,
      'succeeded',
      'settled ones stay as they are',
    );
  } finally {
    await store.close();
  }
});
