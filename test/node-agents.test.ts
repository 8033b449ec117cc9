/**
 * The NodeAgent contract (test/helpers/node-agent-contract.ts) against the in-process Agent and
 * against the NATS transport (NatsNodeAgent → real NATS on 127.0.0.1:4222 → serveNodeAgent →
 * Agent), on the process backend and, when this machine has it, runc. Then what only a remote
 * node can do: get lost mid-call.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type NatsConnection } from 'nats';
import pino from 'pino';
import { Agent } from '../src/agent/agent.js';
import { runSubject } from '../src/cluster/subjects.js';
import { AgniError, isAgniError } from '../src/core/errors.js';
import { type NodeService, type ServeOptions, serveNodeAgent } from '../src/dispatch/nats/agent-service.js';
import { NatsNodeAgent } from '../src/dispatch/nats/nats-node-agent.js';
import { INLINE_BYTES, type Meta, metaOf } from '../src/dispatch/nats/wire.js';
import type { NodeAgent } from '../src/dispatch/node-agent.js';
import { nodePlatforms } from '../src/image/oci/node-platforms.js';
import type { Backend } from '../src/sandbox/backend.js';
import { ProcessBackend } from '../src/sandbox/process-backend.js';
import { RuncBackend } from '../src/sandbox/runc-backend.js';
import { call, nodeAgentContract, version } from './helpers/node-agent-contract.js';
import { tempDir } from './helpers/tmp.js';

const NATS_URL = process.env.AGNI_TEST_NATS_URL || 'nats://127.0.0.1:4222';
const logger = pino({ level: process.env.AGNI_LOG_LEVEL ?? 'silent' });
const processBackend = new ProcessBackend();
const runcHome = tempDir('agni-nodes-runc-');
const runc = new RuncBackend({ home: runcHome });
const runcOk = (await runc.available()).ok;
after(async () => {
  await processBackend.shutdown();
  await runc.shutdown();
});

let nodeSeq = 0;
const agentOn = (backend: Backend, node = `n${process.pid}x${nodeSeq++}`) =>
  new Agent(backend, async () => undefined, { node, platforms: nodePlatforms(), slots: 4 });

/** one remote node: an agent served over its own connection, reached over another */
interface Remote {
  node: NatsNodeAgent;
  service: NodeService;
  agentConn: NatsConnection;
  serverConn: NatsConnection;
}
const remotes: Remote[] = [];
after(async () => {
  for (const r of remotes) {
    await r.service.close();
    await r.agentConn.close();
    await r.serverConn.close();
  }
});

async function remote(
  backend: Backend,
  extra: ConstructorParameters<typeof NatsNodeAgent>[2] = { logger },
  prepare?: ServeOptions['prepare'],
): Promise<Remote> {
  const local = agentOn(backend);
  const [agentConn, serverConn] = await Promise.all([
    connect({ servers: NATS_URL }),
    connect({ servers: NATS_URL }),
  ]);
  const service = serveNodeAgent(agentConn, local.info.node, local, {
    logger,
    ...(prepare ? { prepare } : {}),
  });
  await service.ready;
  const node = new NatsNodeAgent(serverConn, local.info, { ...extra, backend: backend.name });
  const r = { node, service, agentConn, serverConn };
  remotes.push(r);
  return r;
}

// Every remote made before the first test is declared: the runner may end the file's root (and
// run its after hooks) at a top-level await with no test pending.
const procRemote = await remote(processBackend);
const runcRemote = runcOk ? await remote(runc) : undefined;

nodeAgentContract({
  name: 'in-process Agent, process backend',
  backend: 'process',
  sharesHostFiles: true,
  node: () => ({ node: agentOn(processBackend) }),
});

nodeAgentContract({
  name: 'NATS → Agent, process backend',
  backend: 'process',
  sharesHostFiles: true,
  node: () => ({
    node: procRemote.node,
    maxPendingBytes: () => procRemote.service.calls()[0]?.maxPendingBytes,
  }),
});

if (runcRemote)
  nodeAgentContract({
    name: 'NATS → Agent, runc backend',
    backend: 'runc',
    sharesHostFiles: false,
    node: () => ({
      node: runcRemote.node,
      maxPendingBytes: () => runcRemote.service.calls()[0]?.maxPendingBytes,
    }),
  });
else test('NATS → Agent, runc backend', { skip: 'runc is not available here' }, () => {});

describe('a remote node lost mid-call', () => {
  let r: Remote;
  before(async () => {
    r = await remote(processBackend);
  });

  const assertLost = (e: unknown, node: string) => {
    assert.ok(isAgniError(e), String(e));
    assert.equal(e.code, 'node_lost');
    assert.match(e.message, new RegExp(`^node ${node} was lost while `));
    assert.equal(e.details?.node, node);
  };

  test('a node whose connection closes ends the call with node_lost within seconds', async () => {
    const mine = await remote(processBackend);
    const v = version(['/bin/sh', '-c', 'echo up; sleep 60']);
    let started = false;
    const running = call(mine.node, v, Buffer.alloc(0), {
      onStdout: () => {
        started = true;
      },
    }).then(
      () => assert.fail('it finished'),
      (err: unknown) => err,
    );
    while (!started) await sleep(50);
    const t0 = Date.now();
    await mine.agentConn.close();
    const e = await running;
    assertLost(e, mine.node.info.node);
    assert.ok(Date.now() - t0 < 10_000, `took ${Date.now() - t0} ms`);
    await mine.service.close();
  });

  test('the heartbeat watcher declaring the node lost ends the call at once', async () => {
    const listeners = new Set<() => void>();
    let lost = false;
    const watched = new NatsNodeAgent(r.serverConn, r.node.info, {
      logger,
      isLost: () => lost,
      onLost: (cb) => {
        listeners.add(cb);
        return () => listeners.delete(cb);
      },
    });
    let started = false;
    const running = call(watched, version(['/bin/sh', '-c', 'echo up; sleep 60']), Buffer.alloc(0), {
      onStdout: () => {
        started = true;
      },
    });
    while (!started) await sleep(50);
    lost = true;
    for (const cb of listeners) cb();
    const e = await running.then(
      () => assert.fail('it finished'),
      (err: unknown) => err,
    );
    assertLost(e, r.node.info.node);
    assert.match((e as Error).message, /heartbeats stopped/);
    assert.equal(listeners.size, 0, 'the call stopped listening');
    // The node was told: the sandbox it ran is killed, not left running unread.
    for (let i = 0; i < 100 && r.service.calls().length > 0; i++) await sleep(100);
    assert.deepEqual(r.service.calls(), []);
    // A node known lost gets no new call.
    const again = await call(watched, version(['true']), Buffer.alloc(0)).catch((err: unknown) => err);
    assertLost(again, r.node.info.node);
  });

  test('a node nobody serves answers node_lost at once', async () => {
    const ghost: NodeAgent = new NatsNodeAgent(
      r.serverConn,
      { node: 'ghost-node', platforms: nodePlatforms(), slots: 1 },
      { logger },
    );
    const e = await call(ghost, version(['true']), Buffer.alloc(0)).catch((err: unknown) => err);
    assertLost(e, 'ghost-node');
    assert.match((e as Error).message, /nothing answers on agni\.cluster\.node\.ghost-node\.run/);
  });

  test('a server that goes silent has its calls killed on the node', async () => {
    const mine = await remote(processBackend);
    let started = false;
    const running = call(mine.node, version(['/bin/sh', '-c', 'echo up; sleep 60']), Buffer.alloc(0), {
      onStdout: () => {
        started = true;
      },
    }).catch((e: unknown) => e);
    while (!started) await sleep(50);
    assert.equal(mine.service.calls().length, 1);
    await mine.serverConn.close();
    for (let i = 0; i < 150 && mine.service.calls().length > 0; i++) await sleep(100);
    assert.deepEqual(mine.service.calls(), [], 'the call still runs on the node');
    assertLost(await running, mine.node.info.node);
  });
});

describe("the agent's prepare hook", () => {
  test('rewrites the request before it runs (the code this node holds), and its errors pass through', async () => {
    const here = tempDir('agni-prepared-');
    mkdirSync(join(here, 'fn'));
    writeFileSync(join(here, 'fn', 'note.txt'), 'from the node\n');
    const r = await remote(processBackend, { logger }, async (req) => {
      if (req.version.function.endsWith('refused'))
        throw new AgniError('image_not_found', `no code for ${req.version.function} on this node`, {
          hint: 'push it again',
          details: { ref: 'x' },
        });
      return { ...req, version: { ...req.version, codeDir: join(here, 'fn') } };
    });
    // The server's code dir does not exist on this node: only the prepared one does.
    const v = version(['cat', '/fn/note.txt'], { codeDir: join(here, 'elsewhere') });
    const ran = await call(r.node, v, Buffer.alloc(0));
    assert.equal(ran.result.outcome, 'ok');
    assert.equal(ran.stdout.toString(), 'from the node\n');
    const refused = { ...version(['true']), function: 'x-refused' };
    const e = await call(r.node, refused, Buffer.alloc(0)).catch((err: unknown) => err);
    assert.ok(isAgniError(e), String(e));
    assert.equal(e.code, 'image_not_found');
    assert.equal(e.hint, 'push it again');
    assert.deepEqual(e.details, { ref: 'x' });
  });
});

describe('the payload on the wire', () => {
  test('a small buffered payload rides in the start message (no `in` message), a larger one streams; both arrive whole', async () => {
    const spy = await connect({ servers: NATS_URL });
    const starts: Meta[] = [];
    const ins: Meta[] = [];
    const watch = (subject: string, into: Meta[]) =>
      spy.subscribe(subject, {
        callback: (err, m) => {
          const meta = err ? undefined : metaOf(m);
          if (meta && (meta.t === 'start' || meta.t === 'in')) into.push(meta);
        },
      });
    const subs = [watch(runSubject(procRemote.node.info.node), starts), watch('agni.cluster.call.*.a', ins)];
    await spy.flush();
    try {
      const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
      for (const bytes of [5, INLINE_BYTES, INLINE_BYTES + 1, 3 * INLINE_BYTES]) {
        starts.length = 0;
        ins.length = 0;
        const payload = Buffer.alloc(bytes, 'xyz');
        const r = await call(procRemote.node, version(['sha256sum']), payload);
        assert.equal(r.result.outcome, 'ok');
        assert.equal(r.stdout.toString().split(' ')[0], sha(payload), `${bytes} bytes arrive whole`);
        // The node's first word marks the crossing, before anything the call did there.
        assert.ok(r.hooks.indexOf('dispatched') < r.hooks.indexOf('ready'), r.hooks.join(' '));
        await spy.flush();
        const inline = bytes <= INLINE_BYTES;
        assert.equal(starts.length, 1);
        assert.equal((starts[0] as { inline?: number }).inline, inline ? bytes : undefined, `${bytes} bytes`);
        assert.equal(ins.length, inline ? 0 : Math.ceil(bytes / INLINE_BYTES), `${bytes} bytes`);
      }
    } finally {
      for (const s of subs) s.unsubscribe();
      await spy.close();
    }
  });
});
