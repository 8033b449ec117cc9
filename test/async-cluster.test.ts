/**
 * Async invocations across servers: two servers share one PostgreSQL database, one JetStream work
 * queue and one object store bucket. Server A (a child process) accepts 20 invocations and is
 * SIGKILLed while it runs some; server B finishes all 20, none twice at once, none lost.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { parseManifest } from '../src/core/manifest.js';
import { SqlAsyncRepo } from '../src/store/async-sql.js';
import { readAll } from '../src/store/blob/blob-store.js';
import { openStore } from '../src/store/open.js';
import { type AsyncNodeOptions, startAsyncNode } from './helpers/async-node.js';
import { testStoreFor } from './helpers/pg-store.js';

const NATS_URL = process.env.AGNI_TEST_NATS_URL || 'nats://127.0.0.1:4222';
const NODE_SCRIPT = fileURLToPath(new URL('./helpers/async-node.js', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

const home = mkdtempSync(join(tmpdir(), 'agni-async-cluster-'));
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) c.kill('SIGKILL');
  rmSync(home, { recursive: true, force: true });
});

function startChild(
  o: AsyncNodeOptions,
  submit: number,
  fn = 'slow',
): Promise<{ child: ChildProcess; ids: string[] }> {
  const child = spawn(process.execPath, [NODE_SCRIPT], {
    env: {
      ...process.env,
      AGNI_ASYNC_NODE: '1',
      AGNI_ASYNC_NODE_OPTIONS: JSON.stringify(o),
      AGNI_SUBMIT: String(submit),
      AGNI_FUNCTION: fn,
    },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  return new Promise((resolve, reject) => {
    let out = '';
    child.stdout?.on('data', (d: Buffer) => {
      out += d.toString();
      const nl = out.indexOf('\n');
      if (nl >= 0) resolve({ child, ids: JSON.parse(out.slice(0, nl)) as string[] });
    });
    child.on('exit', (code) => reject(new Error(`a server exited (${code}) before it was ready`)));
  });
}

test('20 async invocations accepted by server A, A SIGKILLed mid-run: all 20 finish on server B', {
  timeout: 300_000,
}, async () => {
  const tag = randomBytes(4).toString('hex');
  const pgUrl = (await testStoreFor(home, true))!;
  const store = await openStore(pgUrl);
  const codeDir = mkdtempSync(join(home, 'code-'));
  await store.addVersion({
    function: 'slow',
    manifest: parseManifest('name: slow\nruntime: host\ncommand: "sleep 2; cat"\n'),
    codeDir,
    imageId: 'host',
  });
  const base = {
    pgUrl,
    natsUrl: NATS_URL,
    stream: `AGNI_WORK_IT_${tag}`,
    subjectPrefix: `agni.workit.${tag}`,
    bucket: `agni_blobs_it_${tag}`,
    slots: 4,
    ackWaitMs: 2_000,
    leaseMs: 1_500,
  };
  const repo = new SqlAsyncRepo(store.db);
  const { child, ids } = await startChild({ ...base, owner: 'server-a' }, 20);
  assert.equal(ids.length, 20);

  // Killed while it runs some of them: their rows say running, under A's lease.
  let runningOnA: string[] = [];
  for (let i = 0; i < 600 && runningOnA.length === 0; i++) {
    const states = await Promise.all(ids.map((id) => repo.get(id)));
    runningOnA = states.filter((s) => s?.owner === 'server-a').map((s) => s!.id);
    if (runningOnA.length === 0) await sleep(50);
  }
  assert.ok(runningOnA.length > 0, 'server A started running some');
  child.kill('SIGKILL');
  await new Promise((r) => child.once('exit', r));

  const b = await startAsyncNode({ ...base, owner: 'server-b' });
  try {
    // B's start leaves what A held under a live lease alone (it is A's until the lease runs out).
    for (const id of runningOnA) {
      const st = await repo.get(id);
      if (st?.settledAt === null) assert.notEqual(st.owner, 'server-b', `${id} taken at start`);
    }
    const deadline = Date.now() + 240_000;
    for (;;) {
      const states = await Promise.all(ids.map((id) => repo.get(id)));
      if (states.every((s) => s?.settledAt !== null)) break;
      assert.ok(
        Date.now() < deadline,
        `unsettled: ${states.filter((s) => s?.settledAt === null).map((s) => s?.id)}`,
      );
      await sleep(250);
    }
    for (const [i, id] of ids.entries()) {
      const rec = await store.getInvocation(id);
      const st = await repo.get(id);
      assert.equal(rec?.status, 'succeeded', `${id}: ${rec?.status} ${rec?.error}`);
      assert.equal(st?.deadLetter, false);
      assert.equal(
        st?.attempts,
        1,
        `${id} counted ${st?.attempts} attempts: an interrupted one is not counted`,
      );
      const out = await b.queue.output(id);
      assert.ok(out, `${id} has its output`);
      assert.equal((await readAll(await out.open())).toString(), `payload ${i}`);
    }
    for (const id of runningOnA) {
      assert.equal((await store.getInvocation(id))?.node, 'server-b', `${id}, interrupted on A, ran on B`);
    }
    // Every item was acked: nothing is left in the stream.
    for (const id of ids) assert.equal(await b.work.holds(id), false, `${id} still in the work queue`);
  } finally {
    await b.close();
    const cleanup = await startAsyncNode({ ...base, owner: 'cleanup' });
    cleanup.queue.close();
    await cleanup.queue.drain();
    await cleanup.work.destroy();
    await cleanup.blobs.destroy();
    await cleanup.close().catch(() => {});
    await store.close();
  }
});

async function until(what: string, cond: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    assert.ok(Date.now() < end, `timed out waiting for ${what}`);
    await sleep(100);
  }
}

test('an invocation whose server dies on every delivery is dead-lettered after max deliveries, saying why', {
  timeout: 300_000,
}, async () => {
  const tag = randomBytes(4).toString('hex');
  const pgUrl = (await testStoreFor(join(home, 'dead'), true))!;
  const store = await openStore(pgUrl);
  await store.addVersion({
    function: 'doomed',
    manifest: parseManifest('name: doomed\nruntime: host\ncommand: "sleep 6; cat"\n'),
    codeDir: mkdtempSync(join(home, 'code-')),
    imageId: 'host',
  });
  const base = {
    pgUrl,
    natsUrl: NATS_URL,
    stream: `AGNI_WORK_DL_${tag}`,
    subjectPrefix: `agni.workdl.${tag}`,
    bucket: `agni_blobs_dl_${tag}`,
    slots: 2,
    ackWaitMs: 2_000,
    leaseMs: 1_500,
    maxDeliveries: 2,
  };
  const repo = new SqlAsyncRepo(store.db);
  const a1 = await startChild({ ...base, owner: 'server-a1' }, 1, 'doomed');
  const id = a1.ids[0]!;
  await until('a1 running it', async () => (await repo.get(id))?.owner === 'server-a1');
  a1.child.kill('SIGKILL');
  const a2 = await startChild({ ...base, owner: 'server-a2' }, 0);
  await until('a2 taking it over', async () => (await repo.get(id))?.owner === 'server-a2');
  // Started now, so the second delivery went to a2: a server still pulling work is what makes
  // JetStream notice the item is out of deliveries (it tells so when it would deliver it again).
  const judge = await startAsyncNode({ ...base, owner: 'judge' });
  try {
    a2.child.kill('SIGKILL');
    await until('the dead letter', async () => (await repo.get(id))?.settledAt !== null);
    const st = (await repo.get(id))!;
    const rec = (await store.getInvocation(id))!;
    assert.equal(st.deadLetter, true);
    assert.equal(rec.status, 'error');
    assert.match(rec.error ?? '', /delivered 2 times and never finished/);
    assert.deepEqual(
      (await judge.queue.deadLetters({ limit: 10 })).map((d) => d.id),
      [id],
      'listed by `agni failed`, and so retried by it on demand',
    );
    assert.equal(await judge.work.holds(id), false, 'the given-up item left the stream');
  } finally {
    judge.queue.close();
    await judge.queue.drain();
    await judge.work.destroy();
    await judge.blobs.destroy();
    await judge.close().catch(() => {});
    await store.close();
  }
});

test('a waiter and a job on the server that accepted an invocation hear of its settle on another server', {
  timeout: 300_000,
}, async () => {
  const tag = randomBytes(4).toString('hex');
  const pgUrl = (await testStoreFor(join(home, 'bus'), true))!;
  const store = await openStore(pgUrl);
  await store.addVersion({
    function: 'echo',
    manifest: parseManifest('name: echo\nruntime: host\ncommand: cat\n'),
    codeDir: mkdtempSync(join(home, 'code-')),
    imageId: 'host',
  });
  const base = {
    pgUrl,
    natsUrl: NATS_URL,
    stream: `AGNI_WORK_BUS_${tag}`,
    subjectPrefix: `agni.workbus.${tag}`,
    bucket: `agni_blobs_bus_${tag}`,
    slots: 2,
    ackWaitMs: 5_000,
    leaseMs: 4_000,
    busPrefix: `agni.test.events.${tag}`,
  };
  // A accepts and runs nothing; B runs.
  const a = await startAsyncNode({ ...base, owner: 'server-a', maxInFlight: 0 });
  const b = await startAsyncNode({ ...base, owner: 'server-b' });
  try {
    const heard: string[] = [];
    a.queue.onSettled((rec) => heard.push(rec.id));
    const { record } = await a.queue.submit({ function: 'echo', payload: Buffer.from('across') });
    const rec = await a.queue.wait(record.id, 60_000);
    assert.equal(rec.status, 'succeeded', 'the waiter on A woke with the settled record');
    assert.equal(rec.node, 'server-b');
    assert.deepEqual(heard, [record.id], "A's settle listeners (jobs) heard it once");
    const out = await a.queue.output(record.id);
    assert.equal((await readAll(await out!.open())).toString(), 'across', 'its output, by reference, from A');
  } finally {
    await a.close();
    await b.work.destroy();
    await b.blobs.destroy();
    await b.close().catch(() => {});
    await store.close();
  }
});
