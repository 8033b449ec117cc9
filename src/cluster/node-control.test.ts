/** Drain and resume over the real NATS, the drained state kept across a restart, and the admin view. */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { connect, type NatsConnection } from 'nats';
import pino from 'pino';
import { tempDir } from '../../test/helpers/tmp.js';
import { Agent } from '../agent/agent.js';
import { isAgniError } from '../core/errors.js';
import { parseManifest } from '../core/manifest.js';
import { dispatchRequest } from '../dispatch/dispatch-request.js';
import { nodePlatforms } from '../image/oci/node-platforms.js';
import { ProcessBackend } from '../sandbox/process-backend.js';
import { DrainState } from './drain-state.js';
import { DrainingAgent } from './draining-agent.js';
import { ClusterNodeAdmin, LocalNodeAdmin } from './node-admin.js';
import { sendNodeControl, serveNodeControl } from './node-control.js';
import { NodeDirectory } from './node-directory.js';
import type { NodeHeartbeat } from './node-heartbeat.js';

const logger = pino({ level: 'silent' });
let nc: NatsConnection;
before(async () => {
  nc = await connect({ servers: '127.0.0.1:4222' });
});
after(() => nc.close());

/** a node name no other test run uses (the subjects are shared on the NATS server) */
const uniqueName = (base: string) => `${base}-${process.pid}-${Date.now().toString(36)}`;

const hb = (node: string): NodeHeartbeat => ({
  node,
  address: '10.0.0.9',
  platforms: ['linux/amd64'],
  backends: ['runc'],
  slots: 4,
  running: 1,
  queued: 0,
  memoryBytes: 8 << 30,
  labels: { site: 'a' },
  warm: ['f@1'],
  state: 'ready',
  startedAt: 5,
  sentAt: Date.now(),
});

test('drain over NATS holds, is saved in the home, survives a restart, and resume undoes it', async () => {
  const home = tempDir('agni-drain-');
  const name = uniqueName('n');
  let state = await DrainState.load(home);
  assert.equal(state.state(), 'ready');
  let server = serveNodeControl(nc, name, state, { logger });
  try {
    assert.deepEqual(await sendNodeControl(nc, name, 'drain'), { node: name, state: 'draining' });
    assert.ok(existsSync(join(home, 'node-drained')));
    await server.close();
    // the agent restarts
    state = await DrainState.load(home);
    assert.equal(state.state(), 'draining');
    server = serveNodeControl(nc, name, state, { logger });
    assert.deepEqual(await sendNodeControl(nc, name, 'resume'), { node: name, state: 'ready' });
    assert.equal(existsSync(join(home, 'node-drained')), false);
    assert.equal((await DrainState.load(home)).state(), 'ready');
    const bad = await nc.request(`agni.cluster.node.${name}.ctl`, JSON.stringify({ op: 'explode' }));
    assert.match(new TextDecoder().decode(bad.data), /"code":"bad_request".*expected \{\\"op\\"/);
  } finally {
    await server.close();
  }
});

test('a node that does not answer: the error names it', async () => {
  const name = uniqueName('gone');
  const e = await sendNodeControl(nc, name, 'drain', 1000).catch((x: unknown) => x);
  assert.ok(
    isAgniError(e) &&
      e.code === 'no_node' &&
      e.message.startsWith(`node ${name} did not answer the drain request`),
    String(e),
  );
});

test('a draining agent refuses new calls with no_node and lets running ones finish', async () => {
  const backend = new ProcessBackend();
  const codeDir = tempDir('agni-drain-code-');
  try {
    const home = tempDir('agni-drain-');
    const state = await DrainState.load(home);
    const agent = new DrainingAgent(
      new Agent(backend, async () => undefined, { node: 'd', platforms: nodePlatforms(), slots: 2 }),
      () => state.state(),
    );
    const v = {
      function: 'f',
      version: 1,
      manifest: parseManifest('name: f\nruntime: host\ncommand: "sleep 0.3; echo done"\n'),
      codeDir,
      imageId: 'host',
      createdAt: 0,
    };
    const out: Buffer[] = [];
    const call = () => {
      const payload = Buffer.alloc(0);
      return agent.run(dispatchRequest({ invocationId: `i-${Math.random()}`, version: v, payload }), {
        payload,
        io: { onStdout: (c) => out.push(c), onStderr: () => {} },
        hooks: {},
      });
    };
    const running = call();
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(agent.active, 1);
    await state.drain();
    const refused = await call().catch((e: unknown) => e);
    assert.ok(
      isAgniError(refused) && refused.code === 'no_node' && /node d is draining/.test(refused.message),
    );
    assert.equal((await running).outcome, 'ok');
    assert.equal(Buffer.concat(out).toString(), 'done\n');
    state.resume();
    assert.equal((await call()).outcome, 'ok');
  } finally {
    await backend.shutdown();
  }
});

test('the cluster admin lists the directory, drains a known node, and names an unknown one', async () => {
  const name = uniqueName('adm');
  const dir = new NodeDirectory({ logger, now: () => 10_000 });
  const home = tempDir('agni-drain-');
  const state = await DrainState.load(home);
  const server = serveNodeControl(nc, name, state, { logger });
  try {
    dir.update(hb(name));
    const admin = new ClusterNodeAdmin(dir, nc, () => 10_250);
    assert.deepEqual(admin.list(), [
      {
        name,
        state: 'ready',
        address: '10.0.0.9',
        platforms: ['linux/amd64'],
        backends: ['runc'],
        slots: 4,
        running: 1,
        queued: 0,
        free: 3,
        memoryBytes: 8 << 30,
        labels: { site: 'a' },
        warm: ['f@1'],
        startedAt: 5,
        lastHeartbeatMs: 250,
      },
    ]);
    assert.equal((await admin.drain(name)).state, 'draining');
    assert.equal(state.state(), 'draining');
    assert.equal((await admin.resume(name)).state, 'ready');
    const e = await admin.drain('nope').catch((x: unknown) => x);
    assert.ok(
      isAgniError(e) && e.code === 'not_found' && e.status === 404 && e.message === 'no node named nope',
    );
    assert.match(e.hint ?? '', new RegExp(`known nodes: ${name}`));
  } finally {
    await server.close();
    dir.close();
  }
});

test("agni up's admin: one ready node; drain refused as a conflict; an unknown name is 404", async () => {
  const admin = new LocalNodeAdmin(() => hb('here'));
  assert.deepEqual(
    admin.list().map((n) => [n.name, n.state, n.lastHeartbeatMs]),
    [['here', 'ready', 0]],
  );
  const c = await admin.drain('here').catch((x: unknown) => x);
  assert.ok(isAgniError(c) && c.code === 'conflict' && /this server's own/.test(c.message));
  const u = await admin.resume('there').catch((x: unknown) => x);
  assert.ok(isAgniError(u) && u.code === 'not_found' && /no node named there/.test(u.message));
});
