/**
 * Server and agent membership together on the real NATS and its real subjects: agents with real
 * in-process Agents (process backend) join, take calls, are drained and resumed, and stay drained
 * across a restart. Calls carry a label only this run's agents have, since other runs may share
 * the NATS server.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { connect, type NatsConnection } from 'nats';
import pino from 'pino';
import { tempDir } from '../../test/helpers/tmp.js';
import { Agent } from '../agent/agent.js';
import { parseManifest } from '../core/manifest.js';
import { dispatchRequest } from '../dispatch/dispatch-request.js';
import { parsePlatform } from '../image/oci/platform.js';
import { ProcessBackend } from '../sandbox/process-backend.js';
import { type AgentMembership, startAgentMembership } from './agent-membership.js';
import { type ServerPlacement, startServerPlacement } from './server-placement.js';

const logger = pino({ level: 'silent' });
const backend = new ProcessBackend();
const codeDir = tempDir('agni-membership-');
const run = randomUUID().slice(0, 8);
let serverNc: NatsConnection;
let agentNc: NatsConnection;
before(async () => {
  serverNc = await connect({ servers: '127.0.0.1:4222' });
  agentNc = await connect({ servers: '127.0.0.1:4222' });
});
after(async () => {
  await serverNc.close();
  await agentNc.close();
  await backend.shutdown();
});

async function until(what: string, ok: () => boolean, ms = 15_000): Promise<void> {
  const end = Date.now() + ms;
  while (!ok()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

function agentOn(name: string, home: string): Promise<AgentMembership> {
  const agent = new Agent(backend, async () => undefined, {
    node: name,
    platforms: [parsePlatform('linux/amd64')],
    slots: 2,
  });
  return startAgentMembership(agentNc, {
    home,
    name,
    address: '127.0.0.1',
    platforms: agent.info.platforms,
    backends: ['process'],
    slots: 2,
    memoryBytes: 1 << 30,
    labels: { run },
    agent,
    warm: () => agent.warmVersions(),
    logger,
    intervalMs: 150,
  });
}

test('agents join, a drained one gets no calls, stays drained across a restart, and resumes', {
  timeout: 60_000,
}, async () => {
  const a = `a-${run}`;
  const b = `b-${run}`;
  const homeA = tempDir('agni-agent-a-');
  const members = new Map<string, AgentMembership>();
  members.set(a, await agentOn(a, homeA));
  members.set(b, await agentOn(b, tempDir('agni-agent-b-')));
  let server: ServerPlacement | undefined;
  try {
    server = await startServerPlacement(serverNc, {
      logger,
      agentFor: (hb) => members.get(hb.node)!.agent,
      imagePlatforms: async () => undefined,
    });
    const s = server;
    const ours = () => s.nodes.list().filter((n) => n.labels.run === run);
    await until('both agents', () => ours().length === 2);
    assert.deepEqual(
      ours().map((n) => [n.name, n.state, n.slots, n.platforms]),
      [
        [a, 'ready', 2, ['linux/amd64']],
        [b, 'ready', 2, ['linux/amd64']],
      ],
    );
    const v = {
      function: 'm',
      version: 1,
      manifest: parseManifest(
        `name: m\nruntime: host\ncommand: "true"\nplacement: {labels: {run: "${run}"}}\n`,
      ),
      codeDir,
      imageId: 'host',
      createdAt: 0,
    };
    const call = async () => {
      const placed: string[] = [];
      const payload = Buffer.alloc(0);
      const r = await s.dispatcher.dispatch({
        request: dispatchRequest({ invocationId: randomUUID(), version: v, payload }),
        channel: {
          payload,
          io: { onStdout: () => {}, onStderr: () => {} },
          hooks: { onPlaced: (p) => placed.push(p.node) },
        },
      });
      assert.equal(r.outcome, 'ok');
      return placed.at(-1)!;
    };
    assert.ok([a, b].includes(await call()));

    assert.equal((await s.nodes.drain(a)).state, 'draining');
    await until('a draining in the directory', () => s.directory.get(a)?.state === 'draining');
    for (let i = 0; i < 4; i++) assert.equal(await call(), b);

    // a's agent restarts: still drained
    const firstRun = s.directory.get(a)!.heartbeat.startedAt;
    await members.get(a)!.close();
    await new Promise((r) => setTimeout(r, 5));
    members.set(a, await agentOn(a, homeA));
    assert.equal(members.get(a)!.state(), 'draining');
    await until(
      'the restarted a in the directory',
      () => s.directory.get(a)!.heartbeat.startedAt !== firstRun,
    );
    assert.equal(s.directory.get(a)!.state, 'draining');

    assert.equal((await s.nodes.resume(a)).state, 'ready');
    await until('a ready', () => s.directory.get(a)?.state === 'ready');
    const unknown = await s.nodes.drain(`nobody-${run}`).catch((e: unknown) => e);
    assert.match(String(unknown), /no node named nobody-/);
  } finally {
    await server?.close();
    for (const m of members.values()) await m.close();
  }
});
