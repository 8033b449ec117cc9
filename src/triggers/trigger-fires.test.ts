/**
 * A trigger's state names the invocation its last fire started (`agni triggers`, GET /v1/triggers),
 * while a sync call's record is inserted lazily (invoker.ts): the id may be shown only once its
 * record exists.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import pino from 'pino';
import { Invoker } from '../app/invoker.js';
import { AgniError } from '../core/errors.js';
import type { DispatchJob } from '../dispatch/dispatch-request.js';
import { ScriptedDispatcher } from '../dispatch/test-dispatcher.js';
import type { SandboxResult } from '../sandbox/backend.js';
import { SqlFunctionAliasRepository } from '../store/function-alias-repo.js';
import type { InvocationRecord, Store } from '../store/store.js';
import { addHostVersion, openTestDb, overriding } from '../store/test-stores.js';
import { SqlTriggerStateRepo } from '../store/trigger-state.js';
import { VersionResolver } from '../store/version-resolver.js';
import type { AsyncSubmitter } from './async-types.js';
import { type FireTarget, TriggerFires } from './trigger-fires.js';

/** Runs 10 ms without output (shorter than the insert's delay), then succeeds. */
class Quiet extends ScriptedDispatcher {
  async dispatch(job: DispatchJob): Promise<SandboxResult> {
    job.channel.hooks.onPlaced?.({ node: 'n1', backend: 'process' });
    await new Promise((r) => setTimeout(r, 10));
    return { outcome: 'ok', exitCode: 0, signal: null, durationMs: 10 } as SandboxResult;
  }
}

/** sync fires only here */
const noSubmit = {} as AsyncSubmitter;

async function setup(createInvocation?: (real: Store, r: InvocationRecord) => Promise<void>) {
  const db = await openTestDb('sqlite');
  const real = db.store;
  await addHostVersion(real, 'f');
  const store = overriding<Store>(
    real,
    createInvocation ? { createInvocation: (r) => createInvocation(real, r) } : {},
  );
  const repo = new SqlTriggerStateRepo(real.db);
  await repo.sync('f', [{ kind: 'webhook', spec: '/f' }]);
  const invoker = new Invoker(
    store,
    new Quiet(),
    new VersionResolver(real, new SqlFunctionAliasRepository(real.db)),
  );
  const fires = new TriggerFires(invoker, noSubmit, repo, pino({ level: 'silent' }));
  const target: FireTarget = { fn: 'f', index: 0, trigger: { kind: 'webhook', webhook: '/f' } };
  return { db, real, repo, fires, target };
}

test("a fire's invocation is named in the trigger's state only once its record exists", async () => {
  const { db, real, repo, fires, target } = await setup();
  let ended = false;
  const firing = fires
    .invoke(target, Buffer.alloc(0), Date.now(), { onStdout: () => undefined })
    .finally(() => {
      ended = true;
    });
  try {
    // Read as a client would, as fast as it can, while the call runs: every id shown can be looked up.
    while (!ended) {
      const id = (await repo.list())[0]!.lastInvocationId;
      if (id) assert.ok(await real.getInvocation(id), `the state names ${id}, which is not in the store`);
      await new Promise((r) => setImmediate(r)); // SQLite answers within microtasks: let the call run
    }
    const out = await firing;
    const row = (await repo.list())[0]!;
    assert.equal(row.lastInvocationId, out.record.id);
    assert.equal(row.lastStatus, 'succeeded');
    assert.equal(row.fires, 1);
  } finally {
    await firing.catch(() => undefined);
    await db.close();
  }
});

test('a fire whose record could not be written is a rejected fire naming no invocation', async () => {
  const away = new AgniError('store_unavailable', 'the database is away');
  const { db, repo, fires, target } = await setup(async () => {
    throw away;
  });
  try {
    await assert.rejects(
      fires.invoke(target, Buffer.alloc(0), Date.now(), { onStdout: () => undefined }),
      (e) => e === away,
    );
    const row = (await repo.list())[0]!;
    assert.equal(row.lastInvocationId, null);
    assert.equal(row.lastStatus, 'rejected');
    assert.equal(row.lastError, 'store_unavailable: the database is away');
  } finally {
    await db.close();
  }
});

test("a fire tells its caller which version it runs (a sync webhook's answer names it, as an invoke's does)", async () => {
  const { db, fires, target } = await setup();
  try {
    let ran: { version: number; alias: string | null } | undefined;
    await fires.invoke(target, Buffer.alloc(0), Date.now(), {
      onQueued: (_id, r) => {
        ran = r;
      },
      onStdout: () => undefined,
    });
    assert.deepEqual(ran, { version: 1, alias: null });
  } finally {
    await db.close();
  }
});

test("a job item's settle is never looked up as a trigger's (one read less per item); any other is", async () => {
  const db = await openTestDb('sqlite');
  try {
    const looked: string[] = [];
    const repo = new (class extends SqlTriggerStateRepo {
      override async settled(id: string, status: string, error: string | null): Promise<void> {
        looked.push(id);
        return super.settled(id, status, error);
      }
    })(db.store.db);
    let listener: Parameters<AsyncSubmitter['onSettled']>[0] = () => {};
    const submitter = {
      onSettled: (l) => {
        listener = l;
        return () => {};
      },
    } as AsyncSubmitter;
    const invoker = {} as Invoker; // not used: nothing fires here
    const fires = new TriggerFires(invoker, submitter, repo, pino({ level: 'silent' }));
    fires.listen();
    const rec = (id: string) => ({ id, status: 'succeeded', exitCode: 0, error: null }) as InvocationRecord;
    listener(rec('item'), { source: 'job:j1' });
    listener(rec('cron'), { source: 'cron' });
    listener(rec('remote')); // told without a source (another server's, read back): looked up
    await fires.drain();
    assert.deepEqual(looked, ['cron', 'remote']);
  } finally {
    await db.close();
  }
});
