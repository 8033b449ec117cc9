/**
 * In a cluster a call is reported placed twice (by the server's dispatcher, then by the agent's own
 * queue across NATS). The "running" updates those make must never land after the final update:
 * a finished call once stayed `running` for ever when the first of them was slow.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { DispatchJob } from '../dispatch/dispatch-request.js';
import { ScriptedDispatcher } from '../dispatch/test-dispatcher.js';
import type { SandboxResult } from '../sandbox/backend.js';
import { SqlFunctionAliasRepository } from '../store/function-alias-repo.js';
import type { InvocationPatch, Store } from '../store/store.js';
import { addHostVersion, openTestDb, overriding } from '../store/test-stores.js';
import { VersionResolver } from '../store/version-resolver.js';
import { Invoker, RUNNING_WRITE_DELAY_MS } from './invoker.js';

/** Places each call twice, as a server and then its agent do, and runs nothing: the call exits 0. */
class TwicePlaced extends ScriptedDispatcher {
  async dispatch(job: DispatchJob): Promise<SandboxResult> {
    // Each placement outlives the delay before a call is recorded running: both are written.
    const past = () => new Promise((r) => setTimeout(r, RUNNING_WRITE_DELAY_MS + 10));
    job.channel.hooks.onPlaced?.({ node: 'n1', backend: 'remote' });
    await past();
    job.channel.hooks.onPlaced?.({ node: 'n1', backend: 'process' });
    await past();
    job.channel.io.onStdout(Buffer.from('ok'));
    return { outcome: 'ok', exitCode: 0, signal: null, durationMs: 1 } as SandboxResult;
  }
}

test('a call placed twice ends recorded as it ended, however slow the first running update is', async () => {
  const db = await openTestDb('sqlite');
  try {
    const real = db.store;
    await addHostVersion(real, 'f');
    // The real store, with its first "running" update held back 200 ms (a slow pool connection).
    let held = false;
    const store = overriding<Store>(real, {
      updateInvocation: async (id: string, patch: InvocationPatch) => {
        if (patch.status === 'running' && !held) {
          held = true;
          await new Promise((r) => setTimeout(r, 200));
        }
        return real.updateInvocation(id, patch);
      },
    });
    const invoker = new Invoker(
      store,
      new TwicePlaced(),
      new VersionResolver(real, new SqlFunctionAliasRepository(real.db)),
    );
    const out = await invoker.invoke('f', Buffer.from('x'), Date.now(), { onStdout() {}, onStderr() {} });
    assert.equal(out.record.status, 'succeeded');
    assert.ok(held, 'a running update was written (and held back)');
    await new Promise((r) => setTimeout(r, 300));
    assert.equal((await real.getInvocation(out.record.id))!.status, 'succeeded');
  } finally {
    await db.close();
  }
});

/** Places the call, and confirms the same placement 30 ms later, as a node whose heartbeat was right does. */
class ConfirmedLater extends TwicePlaced {
  override async dispatch(job: DispatchJob): Promise<SandboxResult> {
    job.channel.hooks.onPlaced?.({ node: 'n1', backend: 'runc' });
    await new Promise((r) => setTimeout(r, 30));
    job.channel.hooks.onPlaced?.({ node: 'n1', backend: 'runc' });
    await new Promise((r) => setTimeout(r, 30));
    return { outcome: 'ok', exitCode: 0, signal: null, durationMs: 1 } as SandboxResult;
  }
}

test('a confirmation of the same placement is not written again: one running update, then the final one', async () => {
  const db = await openTestDb('sqlite');
  try {
    const real = db.store;
    await addHostVersion(real, 'f');
    const statuses: (string | undefined)[] = [];
    const store = overriding<Store>(real, {
      updateInvocation: (id: string, patch: InvocationPatch) => {
        statuses.push(patch.status);
        return real.updateInvocation(id, patch);
      },
    });
    const invoker = new Invoker(
      store,
      new ConfirmedLater(),
      new VersionResolver(real, new SqlFunctionAliasRepository(real.db)),
    );
    const out = await invoker.invoke('f', Buffer.from('x'), Date.now(), { onStdout() {} });
    assert.equal(out.record.status, 'succeeded');
    assert.deepEqual(statuses, ['running', 'succeeded']);
    assert.equal((await real.getInvocation(out.record.id))!.backend, 'runc');
  } finally {
    await db.close();
  }
});
