/**
 * A sync call's record is inserted beside its dispatch (insert-gate.ts). What the old order
 * promised still holds: nothing of the call reaches its caller before the record exists, and an
 * insert that fails stops the call and answers with the store's error.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AgniError } from '../core/errors.js';
import type { InvocationEvent } from '../core/invocation-events.js';
import type { DispatchJob } from '../dispatch/dispatch-request.js';
import { ScriptedDispatcher } from '../dispatch/test-dispatcher.js';
import type { SandboxResult } from '../sandbox/backend.js';
import { SqlFunctionAliasRepository } from '../store/function-alias-repo.js';
import type { InvocationRecord, Store } from '../store/store.js';
import { addHostVersion, openTestDb, overriding } from '../store/test-stores.js';
import { VersionResolver } from '../store/version-resolver.js';
import { Invoker, newRecord, RUNNING_WRITE_DELAY_MS } from './invoker.js';

/** Writes `out` at once, then runs until its signal aborts or 100 ms pass. */
class Writes extends ScriptedDispatcher {
  aborted: unknown;
  async dispatch(job: DispatchJob): Promise<SandboxResult> {
    job.channel.hooks.onPlaced?.({ node: 'n1', backend: 'process' });
    await job.channel.io.onStdout(Buffer.from('out'));
    const signal = job.channel.io.signal!;
    if (signal.aborted) this.aborted = signal.reason;
    else
      await new Promise<void>((r) => {
        const t = setTimeout(r, 100);
        signal.addEventListener('abort', () => {
          clearTimeout(t);
          this.aborted = signal.reason;
          r();
        });
      });
    return {
      outcome: signal.aborted ? 'failed' : 'ok',
      exitCode: 0,
      signal: null,
      durationMs: 1,
    } as SandboxResult;
  }
}

async function setup(insert: (real: Store, r: InvocationRecord) => Promise<void>) {
  const db = await openTestDb('sqlite');
  const real = db.store;
  await addHostVersion(real, 'f');
  const store = overriding<Store>(real, { createInvocation: (r) => insert(real, r) });
  const dispatcher = new Writes();
  const invoker = new Invoker(
    store,
    dispatcher,
    new VersionResolver(real, new SqlFunctionAliasRepository(real.db)),
  );
  return { db, real, dispatcher, invoker };
}

test('output waits for the record: the caller sees none before the insert is in', async () => {
  let inserted = false;
  const { db, real, invoker } = await setup(async (target, r) => {
    await new Promise((res) => setTimeout(res, 50));
    await target.createInvocation(r);
    inserted = true;
  });
  try {
    const seen: boolean[] = [];
    const out = await invoker.invoke('f', Buffer.alloc(0), Date.now(), {
      onStdout: () => {
        seen.push(inserted);
      },
    });
    assert.deepEqual(seen, [true]);
    assert.equal(out.record.status, 'succeeded');
    assert.equal((await real.getInvocation(out.record.id))!.status, 'succeeded');
  } finally {
    await db.close();
  }
});

test("a failed insert stops the call and answers with the store's error; its output never reaches the caller", async () => {
  const away = new AgniError('store_unavailable', 'the database is away');
  const { db, real, dispatcher, invoker } = await setup(async () => {
    await new Promise((res) => setTimeout(res, 20));
    throw away;
  });
  try {
    let id = '';
    const seen: Buffer[] = [];
    await assert.rejects(
      invoker.invoke('f', Buffer.alloc(0), Date.now(), {
        onQueued: (i) => {
          id = i;
        },
        onStdout: (c) => {
          seen.push(c);
        },
      }),
      (e) => e === away,
    );
    assert.equal(seen.length, 0);
    assert.equal(dispatcher.aborted, away, 'the call was stopped');
    assert.equal(await real.getInvocation(id), undefined);
  } finally {
    await db.close();
  }
});

/** Runs `ms` without output, then succeeds. */
class Quiet extends Writes {
  constructor(private readonly ms: number) {
    super();
  }
  override async dispatch(job: DispatchJob): Promise<SandboxResult> {
    job.channel.hooks.onPlaced?.({ node: 'n1', backend: 'process' });
    await new Promise((r) => setTimeout(r, this.ms));
    return { outcome: 'ok', exitCode: 0, signal: null, durationMs: this.ms } as SandboxResult;
  }
}

test('a short call without output is written once, whole; a longer one is in the store while it runs', async () => {
  const db = await openTestDb('sqlite');
  const real = db.store;
  await addHostVersion(real, 'f');
  const writes: string[] = [];
  const store = overriding<Store>(real, {
    createInvocation: (...a) => {
      writes.push('createInvocation');
      return real.createInvocation(...a);
    },
    updateInvocation: (...a) => {
      writes.push('updateInvocation');
      return real.updateInvocation(...a);
    },
  });
  const resolver = new VersionResolver(real, new SqlFunctionAliasRepository(real.db));
  try {
    const short = await new Invoker(store, new Quiet(0), resolver).invoke('f', Buffer.alloc(0), Date.now(), {
      onStdout: () => undefined,
    });
    assert.deepEqual(writes, ['createInvocation'], 'one write');
    const rec = await real.getInvocation(short.record.id);
    assert.equal(rec?.status, 'succeeded');
    assert.equal(rec?.node, 'n1');
    assert.ok(rec?.phases.finished, 'with its phases to the end');

    writes.length = 0;
    let id = '';
    const long = new Invoker(store, new Quiet(RUNNING_WRITE_DELAY_MS * 4), resolver).invoke(
      'f',
      Buffer.alloc(0),
      Date.now(),
      {
        onQueued: (i) => {
          id = i;
        },
        onStdout: () => undefined,
      },
    );
    await new Promise((r) => setTimeout(r, RUNNING_WRITE_DELAY_MS * 2));
    assert.equal((await real.getInvocation(id))?.status, 'running', 'in the store while it runs');
    await long;
    assert.equal((await real.getInvocation(id))?.status, 'succeeded');
    assert.equal(writes[0], 'createInvocation');
    assert.ok(writes.slice(1).every((w) => w === 'updateInvocation'));
  } finally {
    await db.close();
  }
});

/** Writes `out` and ends at once. */
class WritesBriefly extends Writes {
  override async dispatch(job: DispatchJob): Promise<SandboxResult> {
    job.channel.hooks.onPlaced?.({ node: 'n1', backend: 'process' });
    await job.channel.io.onStdout(Buffer.from('out'));
    return { outcome: 'ok', exitCode: 0, signal: null, durationMs: 1 } as SandboxResult;
  }
}

test('an async attempt that makes output at once writes its record once, at its end: its output goes to its store, which nobody reads before it settles', async () => {
  const db = await openTestDb('sqlite');
  const real = db.store;
  const fn = await addHostVersion(real, 'f');
  const writes: string[] = [];
  const store = overriding<Store>(real, {
    updateInvocation: (...a) => {
      writes.push('updateInvocation');
      return real.updateInvocation(...a);
    },
  });
  try {
    // As the async queue has it: recorded (queued) first, then run.
    const record = newRecord(fn, 0, { received: Date.now() });
    await real.createInvocation(record);
    const resolver = new VersionResolver(real, new SqlFunctionAliasRepository(real.db));
    const out = await new Invoker(store, new WritesBriefly(), resolver).run(record, fn, Buffer.alloc(0), {
      onStdout: () => undefined,
    });
    assert.equal(out.record.status, 'succeeded');
    assert.deepEqual(writes, ['updateInvocation'], 'only the final write');
    const rec = await real.getInvocation(record.id);
    assert.equal(rec?.node, 'n1');
    assert.ok(rec?.phases.first_byte && rec.phases.finished);
  } finally {
    await db.close();
  }
});

test('the feed tells of a sync call only once its record can be looked up, short or long, in order', async () => {
  const db = await openTestDb('sqlite');
  const real = db.store;
  await addHostVersion(real, 'f');
  const resolver = new VersionResolver(real, new SqlFunctionAliasRepository(real.db));
  try {
    for (const [what, ms] of [
      ['short', 0],
      ['long', RUNNING_WRITE_DELAY_MS * 4],
    ] as const) {
      // What a follower of `agni logs -f` does: looks the call up the moment it hears of it.
      const heard: Promise<string>[] = [];
      const events = {
        publish: (e: InvocationEvent) => {
          heard.push(real.getInvocation(e.id).then((r) => `${e.type}:${r ? 'found' : 'missing'}`));
        },
      };
      await new Invoker(real, new Quiet(ms), resolver, events).invoke('f', Buffer.alloc(0), Date.now(), {
        onStdout: () => undefined,
      });
      assert.deepEqual(
        await Promise.all(heard),
        ['received:found', 'placed:found', 'finished:found'],
        `a ${what} call`,
      );
    }
  } finally {
    await db.close();
  }
});
