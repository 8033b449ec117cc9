/**
 * The cluster roles as an operator runs them: a real NATS (its own nats-server on a free port, so
 * other clusters on this machine cannot join), a throwaway PostgreSQL database, `agni server` and
 * two `agni agent` processes spawned through the CLI, each agent in a network namespace of its own
 * (test/helpers/netns-hosts.ts) reaching NATS over its link. Calls through the server land on both
 * agents; a cut link or SIGKILL of an agent mid-call ends the call with an error naming it.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { CLI } from './helpers/agni-up.js';
import { deployFiles } from './helpers/deploy.js';
import { createNetnsHosts, type NetnsHosts } from './helpers/netns-hosts.js';
import { testStoreFor } from './helpers/pg-store.js';
import { type ReadyProcess, untilReady } from './helpers/ready-process.js';
import { startRegistry, type TestRegistry } from './helpers/registry.js';
import { tempDir } from './helpers/tmp.js';

const freePort = (): Promise<number> =>
  new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

type Proc = ReadyProcess;

const procs: ChildProcess[] = [];
let hosts: NetnsHosts | undefined;
after(async () => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGTERM');
  await Promise.all(
    procs.map((p) =>
      p.exitCode !== null || p.signalCode !== null ? undefined : new Promise((r) => p.once('exit', r)),
    ),
  );
  await hosts?.destroy();
  await registry?.close();
});

/** spawns `cmd args`, resolving once its output matches `ready` */
function start(cmd: string, args: string[], ready: RegExp, what: string, inHost?: number): Promise<Proc> {
  const opts = {
    stdio: ['ignore', 'pipe', 'pipe'] as ('ignore' | 'pipe')[],
    env: { ...process.env, AGNI_LOG_LEVEL: 'warn' },
  };
  const p = inHost === undefined ? spawn(cmd, args, opts) : hosts!.spawn(inHost, cmd, args, opts);
  procs.push(p);
  return untilReady(p, ready, what, 30_000);
}

const tag = `t${process.pid}`;
let url = '';
let natsUrl = '';
let registry: TestRegistry | undefined;
const agents = new Map<string, Proc & { host: number }>();

before(async () => {
  const natsPort = await freePort();
  natsUrl = `nats://127.0.0.1:${natsPort}`;
  const jsDir = tempDir('agni-cluster-js-');
  await start(
    'nats-server',
    ['-js', '-sd', jsDir, '-a', '127.0.0.1', '-p', String(natsPort)],
    /Server is ready/,
    'nats-server',
  );
  registry = await startRegistry();
  const registryPort = Number(registry.host.split(':')[1]);
  hosts = await createNetnsHosts(2);
  await hosts.forward(natsPort);
  await hosts.forward(registryPort);
  const home = tempDir('agni-cluster-server-');
  const store = await testStoreFor(home, true);
  const server = await start(
    process.execPath,
    [
      CLI,
      'server',
      '--store',
      store!,
      '--nats',
      natsUrl,
      '--registry',
      registry.host,
      '--port',
      '0',
      '--home',
      home,
    ],
    /listening on (http:\/\/\S+)/,
    'agni server',
  );
  url = server.match[1]!;
  for (const [host, n] of ['a1', 'a2'].entries()) {
    const name = `${tag}-${n}`;
    const home = tempDir(`agni-cluster-${n}-`);
    const nats = `nats://${hosts.hosts[host]!.gateway}:${natsPort}`;
    const args = [
      CLI,
      'agent',
      '--nats',
      nats,
      '--registry',
      `${hosts.hosts[host]!.gateway}:${registryPort}`,
      '--insecure-registry',
      '--name',
      name,
      '--slots',
      '2',
      '--home',
      home,
      '--backend',
      'process',
    ];
    agents.set(name, {
      ...(await start(process.execPath, args, /serving/, `agni agent ${name}`, host)),
      host,
    });
  }
  // The server knows a node from its first heartbeat.
  for (let i = 0; i < 100; i++) {
    const info = (await (await fetch(`${url}/healthz`)).json()) as { nodes?: string[] };
    if ((info.nodes ?? []).length === 2) return;
    await sleep(100);
  }
  assert.fail('the server never saw both agents');
});

async function record(
  id: string,
): Promise<{ node?: string; status: string; error?: string; phases: Record<string, number> }> {
  const r = await fetch(`${url}/v1/invocations/${id}`);
  assert.equal(r.status, 200);
  return (await r.json()) as {
    node?: string;
    status: string;
    error?: string;
    phases: Record<string, number>;
  };
}

test('calls through the server run on both agents, crossing to them as a phase', async () => {
  await deployFiles(url, {
    'agni.yaml': 'name: echo\nruntime: host\ncommand: ["/bin/sh", "-c", "cat; sleep 0.5"]\n',
  });
  const calls = await Promise.all(
    Array.from({ length: 6 }, async (_, i) => {
      const r = await fetch(`${url}/v1/functions/echo/invoke`, { method: 'POST', body: `hello ${i}` });
      assert.equal(r.status, 200);
      assert.equal(await r.text(), `hello ${i}`);
      return r.headers.get('agni-invocation-id')!;
    }),
  );
  const recs = await Promise.all(calls.map(record));
  const nodes = new Set(recs.map((r) => r.node));
  assert.deepEqual([...nodes].sort(), [...agents.keys()].sort());
  for (const r of recs) {
    assert.equal(r.status, 'succeeded');
    assert.ok(
      r.phases.placed! <= r.phases.dispatched! && r.phases.dispatched! <= r.phases.started!,
      JSON.stringify(r.phases),
    );
  }
});

/** starts a call of `slow` that prints and then sleeps; resolves with its id, node and body reader */
async function slowCall() {
  const res = await fetch(`${url}/v1/functions/slow/invoke`, { method: 'POST', body: '' });
  assert.equal(res.status, 200);
  const id = res.headers.get('agni-invocation-id')!;
  const reader = res.body!.getReader();
  assert.equal(Buffer.from((await reader.read()).value!).toString(), 'up\n');
  const { node } = await record(id);
  const agent = agents.get(node!);
  assert.ok(agent, `ran on ${node}`);
  return { id, node: node!, agent, reader };
}

async function liveNodes(): Promise<string[]> {
  return ((await (await fetch(`${url}/healthz`)).json()) as { nodes?: string[] }).nodes ?? [];
}

test('an agent whose link is cut mid-call is lost: the call ends naming it, and it rejoins once healed', async () => {
  await deployFiles(url, {
    'agni.yaml': 'name: slow\nruntime: host\ncommand: ["/bin/sh", "-c", "echo up; sleep 120"]\n',
  });
  const { id, node, agent, reader } = await slowCall();
  const t0 = Date.now();
  await hosts!.cut(agent.host);
  try {
    while (!(await reader.read()).done);
    const took = Date.now() - t0;
    const r = await record(id);
    assert.equal(r.status, 'error');
    assert.match(r.error ?? '', new RegExp(`node ${node} was lost while`));
    assert.ok(took < 10_000, `the call ended ${took} ms after the cut`);
  } finally {
    await hosts!.heal(agent.host);
  }
  // nats.js reconnects the agent; its heartbeats make it live again.
  for (let i = 0; i < 300 && !(await liveNodes()).includes(node); i++) await sleep(100);
  assert.ok((await liveNodes()).includes(node), `${node} did not rejoin`);
});

test('SIGKILL of an agent during a sync call ends it with an error naming the node', async () => {
  const { id, node, agent: victim, reader } = await slowCall();
  const t0 = Date.now();
  victim.p.kill('SIGKILL');
  while (!(await reader.read()).done);
  const took = Date.now() - t0;
  const r = await record(id);
  assert.equal(r.status, 'error');
  assert.match(r.error ?? '', new RegExp(`node ${node} was lost while`));
  assert.ok(took < 10_000, `the call ended ${took} ms after the kill`);
});

test('agni server refuses a SQLite store, naming the flag', async () => {
  const { execFile } = await import('node:child_process');
  const r = await new Promise<{ code: number | null; stderr: string }>((resolve) =>
    execFile(process.execPath, [CLI, 'server', '--store', '/tmp/x.db', '--nats', natsUrl], (e, _o, stderr) =>
      resolve({ code: e ? (e as { code: number }).code : 0, stderr }),
    ),
  );
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /--store: agni server needs a PostgreSQL store/);
});

test('agni server --agent runs calls on its own agent too, and every role stops cleanly on SIGTERM', async () => {
  const home = tempDir('agni-cluster-server2-');
  const store = await testStoreFor(join(home, '..', 'shared'), true);
  // A second server on its own database would not see the first one's functions: deploy again here.
  const name = `${tag}-s2`;
  const s2 = await start(
    process.execPath,
    [
      CLI,
      'server',
      '--store',
      store!,
      '--nats',
      natsUrl,
      '--registry',
      registry!.host,
      '--port',
      '0',
      '--home',
      home,
      '--agent',
      '--name',
      name,
      '--backend',
      'process',
      '--slots',
      '2',
    ],
    /agent \S+ in this process/,
    'agni server --agent',
  );
  const url2 = /listening on (http:\/\/\S+)/.exec(s2.out())![1]!;
  await deployFiles(url2, {
    'agni.yaml': 'name: echo\nruntime: host\ncommand: ["/bin/sh", "-c", "cat; sleep 0.5"]\n',
  });
  let ranHere = false;
  for (let round = 0; round < 5 && !ranHere; round++) {
    const ids = await Promise.all(
      Array.from({ length: 4 }, async () => {
        const r = await fetch(`${url2}/v1/functions/echo/invoke`, { method: 'POST', body: 'x' });
        assert.equal(r.status, 200, await r.clone().text());
        assert.equal(await r.text(), 'x');
        return r.headers.get('agni-invocation-id')!;
      }),
    );
    for (const id of ids) {
      const r = await fetch(`${url2}/v1/invocations/${id}`);
      if (((await r.json()) as { node?: string }).node === name) ranHere = true;
    }
  }
  assert.ok(ranHere, "no call ran on the server's own agent");
  const live = procs.filter((p) => p.exitCode === null && p.signalCode === null && p.spawnargs.includes(CLI));
  assert.ok(live.length >= 3, `${live.length} roles running`);
  const exits = live.map((p) => new Promise<number | null>((r) => p.once('exit', (code) => r(code))));
  for (const p of live) p.kill('SIGTERM');
  assert.deepEqual(
    await Promise.all(exits),
    live.map(() => 0),
  );
  assert.match(s2.out(), /agni server: stopped cleanly/);
});
