/**
 * A pipe sends every stage's id with its first byte (the route's agni-invocation-ids header), while
 * each stage's record is inserted lazily (invoker.ts): by that byte, every one must be in the store.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AgniError } from '../core/errors.js';
import { LIVE } from '../core/qualifier.js';
import type { DispatchJob } from '../dispatch/dispatch-request.js';
import { ScriptedDispatcher } from '../dispatch/test-dispatcher.js';
import type { SandboxResult } from '../sandbox/backend.js';
import { SqlFunctionAliasRepository } from '../store/function-alias-repo.js';
import type { InvocationRecord, Store } from '../store/store.js';
import { addHostVersion, openTestDb, overriding } from '../store/test-stores.js';
import { VersionResolver } from '../store/version-resolver.js';
import { Invoker } from './invoker.js';
import { Pipeline } from './pipeline.js';

/**
 * `answer` writes at once, then ends (or with `holds`, runs until stopped); `quiet` runs silently
 * until stopped (its reader gone, it is cut after the pipe's grace). Either ends by itself in 2 s.
 */
class Scripted extends ScriptedDispatcher {
  readonly stopped = new Set<string>();
  constructor(private readonly holds = false) {
    super(3);
  }
  async dispatch(job: DispatchJob): Promise<SandboxResult> {
    const { io, hooks } = job.channel;
    const fn = job.request.version.function;
    hooks.onPlaced?.({ node: 'n1', backend: 'process' });
    if (fn === 'answer') {
      await io.onStdout(Buffer.from('hi\n'));
      if (!this.holds) return { outcome: 'ok', exitCode: 0, signal: null, durationMs: 1 } as SandboxResult;
    }
    const signal = io.signal!;
    if (!signal.aborted)
      await new Promise<void>((r) => {
        const t = setTimeout(r, 2000);
        signal.addEventListener('abort', () => r(clearTimeout(t)), { once: true });
      });
    if (signal.aborted) this.stopped.add(fn);
    return { outcome: 'timeout', exitCode: null, signal: 'SIGKILL', durationMs: 1 } as SandboxResult;
  }
}

async function setup(
  dispatcher: Scripted,
  createInvocation?: (real: Store, r: InvocationRecord) => Promise<void>,
) {
  const db = await openTestDb('sqlite');
  const real = db.store;
  for (const name of ['quiet', 'answer']) await addHostVersion(real, name);
  const store = overriding<Store>(
    real,
    createInvocation ? { createInvocation: (r) => createInvocation(real, r) } : {},
  );
  const resolver = new VersionResolver(real, new SqlFunctionAliasRepository(real.db));
  const pipeline = new Pipeline(resolver, dispatcher, (d) => new Invoker(store, d, resolver), {
    graceMs: 10,
  });
  return { db, real, pipeline };
}

const stages = [
  { name: 'quiet', qualifier: LIVE },
  { name: 'answer', qualifier: LIVE },
];

test("at the pipe's first byte every stage's record is in the store, a silent young stage's too", async () => {
  const { db, real, pipeline } = await setup(new Scripted());
  try {
    const ids: string[] = [];
    let atFirstByte: (InvocationRecord | undefined)[] = [];
    const out = await pipeline.run(stages, Buffer.alloc(0), Date.now(), {
      onQueued: (i, id) => {
        ids[i] = id;
      },
      async onStdout(_chunk, first) {
        if (first) atFirstByte = await Promise.all(ids.map((id) => real.getInvocation(id)));
      },
    });
    assert.deepEqual(
      atFirstByte.map((r) => r?.function),
      ['quiet', 'answer'],
      'each id the caller got names a record',
    );
    assert.deepEqual(
      out.stages.map((s) => s.record.id),
      ids,
    );
  } finally {
    await db.close();
  }
});

test("a stage whose record cannot be written stops the pipe: the store's error, no output", async () => {
  const away = new AgniError('store_unavailable', 'the database is away');
  const dispatcher = new Scripted(true);
  const { db, pipeline } = await setup(dispatcher, async (target, r) => {
    if (r.function === 'quiet') throw away;
    await target.createInvocation(r);
  });
  try {
    const seen: Buffer[] = [];
    await assert.rejects(
      pipeline.run(stages, Buffer.alloc(0), Date.now(), {
        onStdout: (c) => {
          seen.push(c);
        },
      }),
      (e) => e === away,
    );
    assert.deepEqual(seen, [], "nothing, not even the other stage's id, reached the caller");
    assert.ok(dispatcher.stopped.has('answer'), 'the other stage was stopped, not left running');
  } finally {
    await db.close();
  }
});
