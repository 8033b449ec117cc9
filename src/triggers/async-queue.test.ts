/**
 * The async queue over a real SQLite store and file blobs, with a scripted dispatcher: what its
 * settle listeners are told, and a job item's submission found again by its idempotency key.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { Invoker } from '../app/invoker.js';
import { parseManifest } from '../core/manifest.js';
import type { DispatchJob } from '../dispatch/dispatch-request.js';
import { ScriptedDispatcher } from '../dispatch/test-dispatcher.js';
import type { SandboxResult } from '../sandbox/backend.js';
import { type AsyncPatch, SqlAsyncRepo } from '../store/async-sql.js';
import { FileBlobStore } from '../store/blob/file-blob-store.js';
import { SqlFunctionAliasRepository } from '../store/function-alias-repo.js';
import type { InvocationRecord } from '../store/store.js';
import { openTestDb } from '../store/test-stores.js';
import { VersionResolver } from '../store/version-resolver.js';
import { AsyncQueue } from './async-queue.js';

/** fails its first call (exit 3, a line on stderr), then echoes the payload upper-cased */
class FailsOnce extends ScriptedDispatcher {
  calls = 0;
  async dispatch(job: DispatchJob): Promise<SandboxResult> {
    job.channel.hooks.onPlaced?.({ node: 'n1', backend: 'process' });
    if (++this.calls === 1) {
      job.channel.io.onStderr?.(Buffer.from('not yet\n'));
      return { outcome: 'failed', exitCode: 3, signal: null, durationMs: 1 } as SandboxResult;
    }
    const payload = job.channel.payload as Buffer;
    await job.channel.io.onStdout(Buffer.from(payload.toString().toUpperCase()));
    return { outcome: 'ok', exitCode: 0, signal: null, durationMs: 1 } as SandboxResult;
  }
}

/** the real repository, whose next end write matching `failOn` fails once, as an outage would */
class OutageOnce extends SqlAsyncRepo {
  failOn: ((p: AsyncPatch) => boolean) | undefined;
  failed = 0;
  override async update(id: string, patch: AsyncPatch): Promise<void> {
    if (this.failOn?.(patch)) {
      this.failOn = undefined;
      this.failed++;
      throw Object.assign(new Error('connection lost (injected)'), { code: 'ECONNRESET' });
    }
    return super.update(id, patch);
  }
}

async function setup(t: { after(fn: () => Promise<void>): void }, opts: { leaseMs?: number } = {}) {
  // A server lives on by its listeners; the queue's own timers (a retry's wait) keep nobody alive.
  const alive = setInterval(() => {}, 1000);
  const db = await openTestDb('sqlite');
  const home = await mkdtemp(join(tmpdir(), 'agni-async-queue-'));
  t.after(async () => {
    clearInterval(alive);
    await db.close();
    await rm(home, { recursive: true, force: true });
  });
  const store = db.store;
  await store.addVersion({
    function: 'f',
    manifest: parseManifest('name: f\nruntime: host\ncommand: run\nretries: 1\nbackoff: {initial: 10ms}\n'),
    codeDir: '/code/f',
    imageId: 'host',
  });
  const resolver = new VersionResolver(store, new SqlFunctionAliasRepository(store.db));
  const dispatcher = new FailsOnce(2);
  const blobs = new FileBlobStore(home);
  const repo = new OutageOnce(store.db);
  const queue = new AsyncQueue({
    blobs,
    store,
    resolver,
    repo,
    leaseMs: opts.leaseMs,
    invoker: new Invoker(store, dispatcher, resolver),
    dispatcher,
    logger: pino({ level: 'silent' }),
    maxInFlight: 2,
  });
  t.after(async () => {
    queue.close();
    await queue.drain();
  });
  return { store, blobs, queue, dispatcher, repo };
}

test('a settle listener is told the record as stored, after a retry too', async (t) => {
  const { store, queue } = await setup(t);
  const told = new Promise<InvocationRecord>((resolve) => queue.onSettled(resolve));
  await queue.start();
  const sub = await queue.submit({ function: 'f', payload: Buffer.from('hi') });
  const rec = await told;
  assert.equal(rec.id, sub.record.id);
  assert.equal(rec.status, 'succeeded');
  assert.equal(rec.error, null, 'the retry note of the first attempt is gone, in the store and here');
  assert.deepEqual(rec, await store.getInvocation(rec.id));
  const out = await queue.output(rec.id);
  assert.equal(out?.bytes, 2);
});

test('a job item submitted again under its key (a crash before it was marked) is the first submission', async (t) => {
  const { queue, blobs } = await setup(t);
  await blobs.put('jobs/j1/inputs/0', Buffer.from('a\nb\n'));
  const item = {
    function: 'f',
    payload: Buffer.alloc(0),
    payloadRef: { key: 'jobs/j1/inputs/0', offset: 2, length: 2 },
    source: 'job:j1',
    idempotencyKey: 'job:j1:1:1',
  };
  const first = await queue.submit(item);
  const again = await queue.submit(item);
  assert.equal(first.duplicate, false);
  assert.equal(again.duplicate, true);
  assert.equal(again.record.id, first.record.id);
  assert.equal(queue.backlog(), 1, 'counted once');
});

for (const [what, failOn] of [
  ['its retry', (p: AsyncPatch) => typeof p.nextAttemptAt === 'number' && p.attempts === undefined],
  ['its settle', (p: AsyncPatch) => p.settledAt !== undefined && p.settledAt !== null],
] as const) {
  test(`an attempt whose end (${what}) could not be stored runs again without a restart`, async (t) => {
    const { store, queue, repo, dispatcher } = await setup(t, { leaseMs: 300 });
    repo.failOn = failOn;
    await queue.start();
    const sub = await queue.submit({ function: 'f', payload: Buffer.from('hi') });
    const rec = await queue.wait(sub.record.id, 15_000);
    assert.equal(repo.failed, 1, 'the outage happened');
    assert.equal(rec.status, 'succeeded');
    const st = await repo.get(rec.id);
    assert.ok(st?.settledAt, 'settled');
    assert.equal(st?.attempts, 2, 'never more than its attempts');
    assert.equal(st?.owner, null);
    assert.equal((await queue.output(rec.id))?.bytes, 2);
    // the ended attempt counted: one more run after the lost retry (2 in all), or the lost settle (3)
    assert.equal(dispatcher.calls, what === 'its retry' ? 2 : 3);
    assert.equal((await store.getInvocation(rec.id))?.status, 'succeeded');
  });
}
