/**
 * The cluster dispatcher over real in-process agents (process backend) as nodes, whose heartbeats
 * reach a NodeDirectory through the real NATS (127.0.0.1:4222), each test on a subject of its own.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { connect, type NatsConnection } from 'nats';
import pino from 'pino';
import { tempDir } from '../../test/helpers/tmp.js';
import { Agent } from '../agent/agent.js';
import { DrainingAgent } from '../cluster/draining-agent.js';
import { type HeartbeatPublisher, publishHeartbeats } from '../cluster/heartbeat-publisher.js';
import { NodeDirectory } from '../cluster/node-directory.js';
import type { NodeHeartbeat } from '../cluster/node-heartbeat.js';
import type { VersionNeeds } from '../cluster/version-needs.js';
import { isAgniError } from '../core/errors.js';
import { parseManifest } from '../core/manifest.js';
import { parsePlatform } from '../image/oci/platform.js';
import { ProcessBackend } from '../sandbox/process-backend.js';
import type { VersionRecord } from '../store/store.js';
import { ClusterDispatcher } from './cluster-dispatcher.js';
import { type DispatchJob, dispatchRequest } from './dispatch-request.js';
import type { NodeAgent } from './node-agent.js';

const logger = pino({ level: 'silent' });
const backend = new ProcessBackend();
const codeDir = tempDir('agni-cluster-dispatch-');
let nc: NatsConnection;
before(async () => {
  nc = await connect({ servers: '127.0.0.1:4222' });
});
after(async () => {
  await nc.close();
  await backend.shutdown();
});

/** the platforms of the test's images, as a registry's index would list them */
const IMAGES: Record<string, string[]> = {
  'img-arm': ['linux/arm64'],
  'img-amd': ['linux/amd64'],
  'img-riscv': ['linux/riscv64'],
  'img-slow': ['linux/amd64'],
};
const needs: VersionNeeds = async (v) => ({
  key: `${v.function}@${v.version}`,
  ...(v.imageId === 'host' ? {} : { imagePlatforms: IMAGES[v.imageId] }),
  ...(v.manifest.placement ? { placement: v.manifest.placement } : {}),
});

const version = (name: string, command: string, imageId = 'host', extra = ''): VersionRecord => ({
  function: name,
  version: 1,
  manifest: parseManifest(
    `name: ${name}\nruntime: host\ncommand: ${JSON.stringify(command)}\nconcurrency: 50\n${extra}`,
  ),
  codeDir,
  imageId,
  createdAt: Date.now(),
});

interface NodeSpec {
  name: string;
  platforms?: string[];
  slots?: number;
  labels?: Record<string, string>;
  warm?: string[];
  /** calls of other servers its heartbeat shows */
  running?: number;
  /** drained since its heartbeat was sent: its agent refuses new calls */
  drained?: boolean;
  /** the node pulls this image slowly: its calls wait until the gate opens */
  slowImage?: { id: string; gate: Promise<void> };
}

interface Cluster {
  dispatcher: ClusterDispatcher;
  directory: NodeDirectory;
  publishers: Map<string, HeartbeatPublisher>;
  close(): Promise<void>;
}

async function cluster(specs: NodeSpec[], opts: { maxQueue?: number } = {}): Promise<Cluster> {
  const subject = `test.hb.${randomUUID()}`;
  const agents = new Map<string, NodeAgent>();
  const publishers = new Map<string, HeartbeatPublisher>();
  const startedAt = Date.now();
  for (const s of specs) {
    const platforms = s.platforms ?? ['linux/amd64'];
    const agent = new Agent(
      backend,
      async (imageId) => {
        if (s.slowImage && imageId === s.slowImage.id) await s.slowImage.gate;
        return codeDir; // the process backend runs the host's programs whatever the root
      },
      { node: s.name, platforms: platforms.map(parsePlatform), slots: s.slots ?? 2 },
    );
    agents.set(s.name, s.drained ? new DrainingAgent(agent, () => 'draining') : agent);
    const hb = (): NodeHeartbeat => ({
      node: s.name,
      address: '127.0.0.1',
      platforms,
      backends: ['process'],
      slots: s.slots ?? 2,
      running: s.running ?? 0,
      queued: 0,
      memoryBytes: 1 << 30,
      labels: s.labels ?? {},
      warm: s.warm ?? [],
      state: 'ready',
      startedAt,
      sentAt: Date.now(),
    });
    publishers.set(s.name, publishHeartbeats(nc, hb, { logger, subject, intervalMs: 100 }));
  }
  const directory = await NodeDirectory.subscribe(nc, { logger, subject, lostAfterMs: 800 });
  const end = Date.now() + 10_000;
  while (directory.list().length < specs.length) {
    if (Date.now() > end) throw new Error('the nodes never showed up in the directory');
    await new Promise((r) => setTimeout(r, 20));
  }
  const made: string[] = [];
  const dispatcher = new ClusterDispatcher({
    directory,
    agentFor: (hb): NodeAgent => {
      made.push(hb.node);
      return agents.get(hb.node)!;
    },
    needs,
    logger,
    ...(opts.maxQueue !== undefined ? { maxQueue: opts.maxQueue } : {}),
  });
  return {
    dispatcher,
    directory,
    publishers,
    close: async () => {
      await dispatcher.close();
      for (const p of publishers.values()) p.stop();
      directory.close();
    },
  };
}

/** lets a version's needs be looked up (a first call of a version is placed a tick later) */
const settle = () => new Promise((r) => setImmediate(r));

let seq = 0;
function job(v: VersionRecord, placed: string[], out?: Buffer[]): DispatchJob {
  const payload = Buffer.alloc(0);
  return {
    request: dispatchRequest({ invocationId: `job-${seq++}`, version: v, payload }),
    channel: {
      payload,
      io: { onStdout: (c) => out?.push(c), onStderr: () => {} },
      hooks: { onPlaced: (p) => placed.push(p.node) },
    },
  };
}

test('an arm64-only version runs only on the node that advertises linux/arm64', async () => {
  const c = await cluster([
    { name: 'x86', slots: 4 },
    { name: 'arm', platforms: ['linux/arm64'], slots: 2 },
    { name: 'x86b', slots: 4 },
  ]);
  try {
    const placed: string[] = [];
    const out: Buffer[] = [];
    const v = version('armonly', 'echo ran', 'img-arm');
    const results = await Promise.all(
      Array.from({ length: 5 }, () => c.dispatcher.dispatch(job(v, placed, out))),
    );
    assert.ok(results.every((r) => r.outcome === 'ok'));
    assert.deepEqual(placed, ['arm', 'arm', 'arm', 'arm', 'arm']);
    assert.equal(Buffer.concat(out).toString(), 'ran\n'.repeat(5));
  } finally {
    await c.close();
  }
});

test('a node holding the version warm is preferred; otherwise the least loaded', async () => {
  const c = await cluster([
    { name: 'a', slots: 2, running: 1 },
    { name: 'b', slots: 2, warm: ['hot@1'] },
    { name: 'c', slots: 4 },
  ]);
  try {
    const placed: string[] = [];
    const hot = version('hot', 'sleep 0.4', 'img-amd');
    // Two warm calls fill b; the third goes to the least loaded of the others (a is half busy).
    const runs = [1, 2, 3].map(() => c.dispatcher.dispatch(job(hot, placed)));
    await settle();
    assert.deepEqual(placed, ['b', 'b', 'c']);
    const cold = version('cold', 'sleep 0.4');
    // a 1/2, c 1/4 → c; then a 1/2, c 2/4 → a (the name breaks the tie); then a is full → c
    runs.push(...[1, 2, 3].map(() => c.dispatcher.dispatch(job(cold, placed))));
    await settle();
    assert.deepEqual(placed.slice(3), ['c', 'a', 'c']);
    assert.deepEqual(c.dispatcher.stats(), { queued: 0, running: 6, slots: 8, maxQueue: 256 });
    assert.ok((await Promise.all(runs)).every((r) => r.outcome === 'ok'));
  } finally {
    await c.close();
  }
});

test('placement labels and platforms narrow the nodes', async () => {
  const c = await cluster([
    { name: 'a', labels: { site: 'lab-1' } },
    { name: 'b', labels: { site: 'lab-2', gpu: 'yes' } },
    { name: 'arm', platforms: ['linux/arm64'], labels: { site: 'lab-2' } },
  ]);
  try {
    const placed: string[] = [];
    const gpu = version('gpu', 'true', 'host', 'placement: {labels: {gpu: "yes"}}\n');
    await Promise.all([1, 2, 3].map(() => c.dispatcher.dispatch(job(gpu, placed))));
    assert.deepEqual(placed, ['b', 'b', 'b']);
    placed.length = 0;
    const lab2arm = version(
      'lab2arm',
      'true',
      'host',
      'placement: {platforms: [linux/arm64], labels: {site: lab-2}}\n',
    );
    await c.dispatcher.dispatch(job(lab2arm, placed));
    assert.deepEqual(placed, ['arm']);
  } finally {
    await c.close();
  }
});

test('when no node can run it, the error names the platforms and labels there are', async () => {
  const c = await cluster([
    { name: 'a', labels: { site: 'lab-1' } },
    { name: 'arm', platforms: ['linux/arm64'], labels: { site: 'lab-2' } },
  ]);
  try {
    const placed: string[] = [];
    const e1 = await c.dispatcher
      .dispatch(job(version('rv', 'true', 'img-riscv'), placed))
      .catch((e: unknown) => e);
    assert.ok(isAgniError(e1) && e1.code === 'no_node', String(e1));
    assert.match(e1.message, /no node can run rv@1: it needs an image for linux\/riscv64/);
    assert.match(e1.message, /platforms linux\/amd64, linux\/arm64; labels site=lab-1, site=lab-2/);
    const e2 = await c.dispatcher
      .dispatch(job(version('gpu', 'true', 'host', 'placement: {labels: {gpu: "yes"}}\n'), placed))
      .catch((e: unknown) => e);
    assert.ok(isAgniError(e2) && /needs labels gpu=yes/.test(e2.message), String(e2));
    assert.deepEqual(placed, []);
    assert.equal(c.dispatcher.stats().queued, 0);
  } finally {
    await c.close();
  }
});

test("a pipe's stages all run on one node, one with room for all of them", async () => {
  const c = await cluster([
    { name: 'small', slots: 2 },
    { name: 'big', slots: 3, warm: [] },
  ]);
  try {
    const placed: string[] = [];
    const stages = ['s1', 's2', 's3'].map((n) => job(version(n, 'true'), placed));
    const results = await Promise.all(c.dispatcher.dispatchGroup(stages));
    assert.ok(results.every((r) => r.outcome === 'ok'));
    assert.deepEqual(placed, ['big', 'big', 'big']);
    placed.length = 0;
    const two = await Promise.all(
      c.dispatcher.dispatchGroup([job(version('t1', 'true'), placed), job(version('t2', 'true'), placed)]),
    );
    assert.equal(two.length, 2);
    assert.equal(placed.length, 2);
    assert.equal(placed[0], placed[1], 'both stages on one node');
    const tooBig = c.dispatcher.dispatchGroup(
      ['a', 'b', 'c', 'd'].map((n) => job(version(n, 'true'), placed)),
    );
    for (const e of await Promise.all(tooBig.map((p) => p.catch((x: unknown) => x))))
      assert.ok(
        isAgniError(e) &&
          /needs 4 slots at once on one node, and the nodes that can run it have at most 3/.test(e.message),
        String(e),
      );
  } finally {
    await c.close();
  }
});

test('jobs wait in a bounded queue while every eligible node is full', async () => {
  const c = await cluster(
    [
      { name: 'a', slots: 1 },
      { name: 'b', slots: 1 },
    ],
    { maxQueue: 2 },
  );
  try {
    const placed: string[] = [];
    const nap = version('nap', 'sleep 0.5');
    const runs = [1, 2, 3, 4].map(() => c.dispatcher.dispatch(job(nap, placed)));
    await settle();
    assert.deepEqual(c.dispatcher.stats(), { queued: 2, running: 2, slots: 2, maxQueue: 2 });
    assert.throws(
      () => c.dispatcher.admit(),
      (e: unknown) => isAgniError(e) && e.code === 'overloaded',
    );
    const refused = await c.dispatcher.dispatch(job(nap, placed)).catch((e: unknown) => e);
    assert.ok(isAgniError(refused) && refused.code === 'overloaded');
    assert.ok((await Promise.all(runs)).every((r) => r.outcome === 'ok'));
    assert.deepEqual([...placed].sort(), ['a', 'a', 'b', 'b']);
    assert.deepEqual(c.dispatcher.stats(), { queued: 0, running: 0, slots: 2, maxQueue: 2 });
  } finally {
    await c.close();
  }
});

test('a job whose node is lost before the job started there is placed on another node', {
  timeout: 30_000,
}, async () => {
  let open!: () => void;
  const gate = new Promise<void>((r) => {
    open = r;
  });
  const c = await cluster([
    { name: 'slow', warm: ['moved@1'], slowImage: { id: 'img-slow', gate } },
    { name: 'b' },
  ]);
  try {
    const placed: string[] = [];
    const out: Buffer[] = [];
    const run = c.dispatcher.dispatch(job(version('moved', 'echo once', 'img-slow'), placed, out));
    await settle();
    assert.deepEqual(placed, ['slow'], 'the warm node first');
    // The slow node goes silent while it still pulls the image: lost, the call goes to b.
    c.publishers.get('slow')!.stop();
    const r = await run;
    assert.equal(r.outcome, 'ok');
    assert.deepEqual(placed, ['slow', 'b']);
    assert.equal(Buffer.concat(out).toString(), 'once\n', 'the abandoned attempt wrote nothing');
    assert.equal(c.directory.get('slow')!.state, 'lost');
  } finally {
    open();
    await c.close();
  }
});

test('a call refused by a node drained since its last heartbeat goes to another node', async () => {
  const c = await cluster([{ name: 'a', warm: ['r@1'], drained: true }, { name: 'b' }]);
  try {
    const placed: string[] = [];
    const v = version('r', 'true');
    assert.equal((await c.dispatcher.dispatch(job(v, placed))).outcome, 'ok');
    assert.deepEqual(placed, ['a', 'b']);
  } finally {
    await c.close();
  }
});

test("this server's calls a heartbeat already shows are not counted twice: a freed slot is reused at once", {
  timeout: 30_000,
}, async () => {
  const directory = new NodeDirectory({ logger, lostAfterMs: 60_000 });
  const agent = new Agent(backend, async () => codeDir, {
    node: 'solo',
    platforms: [parsePlatform('linux/amd64')],
    slots: 1,
  });
  const beat = (running: number, queued: number, sentAt: number): NodeHeartbeat => ({
    node: 'solo',
    address: '127.0.0.1',
    platforms: ['linux/amd64'],
    backends: ['process'],
    slots: 1,
    running,
    queued,
    memoryBytes: 1 << 30,
    labels: {},
    warm: [],
    state: 'ready',
    startedAt: 1,
    sentAt,
  });
  directory.update(beat(0, 0, 1));
  const d = new ClusterDispatcher({ directory, agentFor: () => agent, needs, logger });
  try {
    const placed: string[] = [];
    const v = version('solo', 'sleep 0.3');
    const first = d.dispatch(job(v, placed));
    const second = d.dispatch(job(v, placed));
    await settle();
    assert.deepEqual(placed, ['solo']);
    // The node reports the first call (this server's own) running; nothing else is sent after it.
    directory.update(beat(1, 0, 2));
    assert.equal((await first).outcome, 'ok');
    // The heartbeat still says 1 running, but that call was ours and it ended: the slot is free.
    assert.equal((await second).outcome, 'ok');
    assert.deepEqual(placed, ['solo', 'solo']);
  } finally {
    await d.close();
    directory.close();
  }
});
