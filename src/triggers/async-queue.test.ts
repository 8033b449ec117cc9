/**
 * The async queue over a real SQLite store and file blobs, with a scripted dispatcher: what its
 * settle listeners are told, and a job item's submission found again by its idempotency key.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { Invoker } from '../app/invoker.js';
import { VolumeFiles } from '../app/volume-files.js';
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
import { asyncOutputKey, asyncPayloadKey } from './blob-keys.js';

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

/** the real file blobs, whose deletes wait until `letDeletesGo()` is called */
class HeldDeletes extends FileBlobStore {
  private opened!: () => void;
  private readonly gate = new Promise<void>((r) => {
    this.opened = r;
  });
  letDeletesGo(): void {
    this.opened();
  }
  override async delete(key: string): Promise<void> {
    await this.gate;
    return super.delete(key);
  }
}

async function setup(
  t: { after(fn: () => Promise<void>): void },
  opts: { leaseMs?: number; outputs?: VolumeFiles; heldDeletes?: boolean } = {},
) {
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
  // These two may write to the volume scratch (a job's `output_to`); f may not.
  const rw = 'volumes: [{name: scratch, path: /mnt, mode: rw}]\n';
  for (const name of ['once', 'writer'])
    await store.addVersion({
      function: name,
      manifest: parseManifest(
        `name: ${name}\nruntime: host\ncommand: run\n${name === 'writer' ? 'retries: 1\nbackoff: {initial: 10ms}\n' : ''}${rw}`,
      ),
      codeDir: `/code/${name}`,
      imageId: 'host',
    });
  const resolver = new VersionResolver(store, new SqlFunctionAliasRepository(store.db));
  const dispatcher = new FailsOnce(2);
  const blobs = opts.heldDeletes ? new HeldDeletes(home) : new FileBlobStore(home);
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
    outputs: opts.outputs,
  });
  t.after(async () => {
    queue.close();
    await queue.drain();
  });
  return { store, blobs, queue, dispatcher, repo, home };
}

test('a settle does not wait for its payload to be deleted; drain does', async (t) => {
  const { queue, blobs, home } = await setup(t, { heldDeletes: true });
  const told = new Promise<InvocationRecord>((resolve) => queue.onSettled(resolve));
  await queue.start();
  const sub = await queue.submit({ function: 'f', payload: Buffer.from('hi') });
  const payload = join(home, ...asyncPayloadKey(sub.record.id).split('/'));
  assert.ok(existsSync(payload), `the payload is stored: ${payload}`);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const rec = await Promise.race([
    told,
    new Promise<undefined>((r) => {
      timer = setTimeout(() => r(undefined), 10_000);
    }),
  ]);
  clearTimeout(timer);
  assert.equal(rec?.status, 'succeeded', 'told of the settle while the deletion still waits');
  assert.ok(existsSync(payload));
  queue.close();
  const drained = queue.drain();
  (blobs as HeldDeletes).letDeletesGo();
  await drained;
  assert.ok(!existsSync(payload), 'deleted before drain returned');
});

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

test('with outputTo, stdout goes straight to its file on the volume, there only once an attempt succeeded', async (t) => {
  const base = await mkdtemp(join(tmpdir(), 'agni-async-volume-'));
  t.after(() => rm(base, { recursive: true, force: true }));
  const scratch = join(base, 'scratch');
  const outside = join(base, 'outside');
  mkdirSync(scratch);
  mkdirSync(outside);
  const outputs = new VolumeFiles([{ name: 'scratch', hostPath: scratch, mode: 'rw' }]);
  const { queue, blobs, repo, dispatcher } = await setup(t, { outputs });
  await queue.start();

  // Its only attempt fails: no file where results go, and no output kept.
  const dead = await queue.submit({
    function: 'once',
    payload: Buffer.from('x'),
    outputTo: { volume: 'scratch', path: 'runs/dead.out' },
  });
  assert.equal((await queue.wait(dead.record.id, 15_000)).status, 'failed');
  assert.deepEqual(readdirSync(join(scratch, 'runs')), [], 'no file, no temporary file');
  assert.equal(await queue.output(dead.record.id), undefined);

  // Larger than what a row keeps (16 KiB): streamed to the file, the queue keeps no copy.
  const big = Buffer.from('abc'.repeat(40_000));
  const sub = await queue.submit({
    function: 'writer',
    payload: big,
    outputTo: { volume: 'scratch', path: 'runs/1/big.out' },
  });
  assert.equal((await queue.wait(sub.record.id, 15_000)).status, 'succeeded');
  assert.deepEqual(
    readFileSync(join(scratch, 'runs', '1', 'big.out')),
    Buffer.from(big.toString().toUpperCase()),
  );
  assert.deepEqual(readdirSync(join(scratch, 'runs', '1')), ['big.out']);
  assert.equal(await repo.output(sub.record.id), undefined, 'not in the store');
  assert.equal(await blobs.stat(asyncOutputKey(sub.record.id)), undefined, 'nor a blob');
  const out = await queue.output(sub.record.id);
  assert.deepEqual(out?.at, { volume: 'scratch', path: 'runs/1/big.out' });
  assert.equal(out?.bytes, big.length);
  let read = Buffer.alloc(0);
  for await (const c of await out!.open()) read = Buffer.concat([read, c as Buffer]);
  assert.equal(read.toString(), big.toString().toUpperCase());

  // A link on the way, planted by a function that may write there: nothing runs, nothing is written.
  symlinkSync(outside, join(scratch, 'evil'));
  const calls = dispatcher.calls;
  const linked = await queue.submit({
    function: 'writer',
    payload: Buffer.from('y'),
    outputTo: { volume: 'scratch', path: 'evil/y.out' },
  });
  const rec = await queue.wait(linked.record.id, 15_000);
  assert.equal(rec.status, 'error');
  assert.equal(rec.error, 'output_to: scratch:/evil/y.out: a directory on the way is a link or a file');
  assert.equal(dispatcher.calls, calls, 'the function did not run');
  assert.deepEqual(readdirSync(outside), []);
  assert.ok(!existsSync(join(outside, 'y.out')));

  // A version that does not mount the volume read-write (an alias moved to it since the job was
  // made, say) is refused before anything is stored.
  await assert.rejects(
    queue.submit({
      function: 'f',
      payload: Buffer.from('z'),
      outputTo: { volume: 'scratch', path: 'z.out' },
    }),
    { code: 'bad_request', message: /^output_to: f v1 does not mount volume scratch read-write/ },
  );
  assert.equal(queue.backlog(), 0, 'nothing accepted');
});
