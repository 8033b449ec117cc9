/**
 * Issue 11's "proven by tests", against the real roles spawned through the CLI: two `agni server`s
 * on a PostgreSQL and a NATS (with JetStream) of this test's own (test/helpers/own-services.ts, so
 * restarting them disturbs no other test), a test registry, and three `agni agent`s each in a
 * network namespace of its own (test/helpers/netns-hosts.ts): two amd64 agents (process backend,
 * label pool=x86) and one arm64 agent (`--platforms linux/arm64`, runc, its sandboxes under
 * qemu-user emulation). Each test leaves the cluster able to serve the next; the last one stops
 * every role and checks that nothing is left on any node.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import pg from 'pg';
import { ContentStore } from '../src/image/oci/content-store.js';
import { pushImage } from '../src/image/oci/push.js';
import { parseReference } from '../src/image/oci/reference.js';
import { RegistryClient } from '../src/image/oci/registry-client.js';
import { CLI } from './helpers/agni-up.js';
import { arm64BusyboxLayer, arm64EmulationProblem } from './helpers/arm64-busybox.js';
import { deployFiles } from './helpers/deploy.js';
import { createNetnsHosts, type NetnsHosts, netnsLeftovers } from './helpers/netns-hosts.js';
import { type OwnService, startOwnNats, startOwnPostgres } from './helpers/own-services.js';
import { type ReadyProcess, untilReady } from './helpers/ready-process.js';
import { startRegistry, storeImage, type TestRegistry } from './helpers/registry.js';
import { tarOf } from './helpers/tarball.js';
import { tempDir } from './helpers/tmp.js';

type Proc = ReadyProcess;

const procs: ChildProcess[] = [];
let hosts: NetnsHosts | undefined;
let nats: OwnService | undefined;
let pgs: OwnService | undefined;
let registry: TestRegistry | undefined;

/** a query on the test's own PostgreSQL, on a connection of its own (the database restarts mid-file) */
async function query<R extends pg.QueryResultRow>(sql: string): Promise<R[]> {
  const c = new pg.Client({ connectionString: pgs!.url });
  c.on('error', () => undefined);
  await c.connect();
  try {
    return (await c.query<R>(sql)).rows;
  } finally {
    await c.end();
  }
}

const alive = (p: ChildProcess) => p.exitCode === null && p.signalCode === null;

after(async () => {
  for (const p of procs) if (alive(p)) p.kill('SIGTERM');
  await Promise.all(procs.map((p) => (alive(p) ? new Promise((r) => p.once('exit', r)) : undefined)));
  await hosts?.destroy();
  await registry?.close();
  await nats?.destroy();
  await pgs?.destroy();
});

/**
 * spawns `cmd args` (in host `inHost` when given), resolving once its output matches `ready`.
 * `ip netns exec` (hosts.spawn) mounts a sysfs of the namespace's own over /sys, hiding the
 * cgroup mounts runc needs: a runc agent enters only the network namespace (nsenter), with the
 * harness's owner mark so hosts.destroy() still finds it.
 */
function start(
  cmd: string,
  args: string[],
  ready: RegExp,
  what: string,
  inHost?: number,
  netOnly = false,
): Promise<Proc> {
  const opts = {
    stdio: ['ignore', 'pipe', 'pipe'] as ('ignore' | 'pipe')[],
    env: { ...process.env, AGNI_LOG_LEVEL: 'warn' },
  };
  const p =
    inHost === undefined
      ? spawn(cmd, args, opts)
      : netOnly
        ? spawn('nsenter', [`--net=/run/netns/${hosts!.hosts[inHost]!.ns}`, cmd, ...args], {
            ...opts,
            env: { ...opts.env, AGNI_NETNS_OWNER: String(process.pid) },
          })
        : hosts!.spawn(inHost, cmd, args, opts);
  procs.push(p);
  return untilReady(p, ready, what, 60_000);
}

async function until<T>(what: string, f: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await f().catch(() => undefined);
    if (v !== undefined) return v;
    if (Date.now() > end) assert.fail(`timed out waiting until ${what}`);
    await sleep(200);
  }
}

const tag = `t${process.pid}`;
const X1 = `${tag}-x1`;
const X2 = `${tag}-x2`;
const ARM = `${tag}-arm`;
let s1: Proc;
let s2: Proc;
let url1 = '';
let url2 = '';
let armRef = '';
const agents = new Map<string, Proc & { host: number; home: string }>();

async function startServer(home: string): Promise<Proc> {
  return start(
    process.execPath,
    [
      CLI,
      'server',
      '--store',
      pgs!.url,
      '--nats',
      nats!.url,
      '--registry',
      registry!.host,
      '--port',
      '0',
      '--home',
      home,
    ],
    /listening on (http:\/\/\S+)/,
    'agni server',
  );
}

before(async () => {
  const problem = arm64EmulationProblem();
  assert.equal(problem, undefined, `arm64 emulation: ${problem}; run scripts/setup.sh as root`);
  [nats, pgs, registry] = await Promise.all([startOwnNats(), startOwnPostgres(), startRegistry()]);
  // An arm64-only image (Debian's arm64 busybox), pushed as the test's registry's arm/busybox:1.
  const scratch = tempDir('agni-cluster-img-');
  const src = new ContentStore(scratch);
  const arm = await storeImage(src, await arm64BusyboxLayer(), 'arm64', 'v8');
  await pushImage(
    new RegistryClient({ host: registry.host }),
    src,
    arm.manifestDigest,
    parseReference(`${registry.host}/arm/busybox:1`),
  );
  armRef = `${registry.host}/arm/busybox:1`;

  const registryPort = Number(registry.host.split(':')[1]);
  hosts = await createNetnsHosts(3);
  await hosts.forward(nats.port);
  await hosts.forward(registryPort);
  s1 = await startServer(tempDir('agni-cluster-s1-'));
  url1 = s1.match[1]!;
  s2 = await startServer(tempDir('agni-cluster-s2-'));
  url2 = s2.match[1]!;
  const specs: [string, number, string[], boolean?][] = [
    [X1, 0, ['--backend', 'process', '--labels', 'pool=x86', '--platforms', 'linux/amd64']],
    [X2, 1, ['--backend', 'process', '--labels', 'pool=x86', '--platforms', 'linux/amd64']],
    [ARM, 2, ['--backend', 'runc', '--platforms', 'linux/arm64'], true],
  ];
  await Promise.all(
    specs.map(async ([name, host, extra, netOnly]) => {
      const home = tempDir(`agni-cluster-${name}-`);
      const gw = hosts!.hosts[host]!.gateway;
      const args = [
        CLI,
        'agent',
        '--nats',
        `nats://${gw}:${nats!.port}`,
        '--registry',
        `${gw}:${registryPort}`,
        '--insecure-registry',
        '--name',
        name,
        '--slots',
        '2',
        '--home',
        home,
        ...extra,
      ];
      agents.set(name, {
        ...(await start(process.execPath, args, /serving/, `agni agent ${name}`, host, netOnly)),
        host,
        home,
      });
    }),
  );
  for (const url of [url1, url2])
    await until('both servers see all three agents', async () =>
      (await nodes(url)).filter((n) => n.state === 'ready').length === 3 ? true : undefined,
    );
});

interface NodeRow {
  name: string;
  state: string;
}
async function nodes(url: string): Promise<NodeRow[]> {
  const r = await fetch(`${url}/v1/nodes`);
  assert.equal(r.status, 200);
  return ((await r.json()) as { nodes: NodeRow[] }).nodes;
}

interface Rec {
  node?: string;
  status: string;
  error?: string;
}
async function record(url: string, id: string): Promise<Rec> {
  const r = await fetch(`${url}/v1/invocations/${id}`);
  assert.equal(r.status, 200, await r.clone().text());
  return (await r.json()) as Rec;
}

async function submit(url: string, fn: string, body = ''): Promise<string> {
  const r = await fetch(`${url}/v1/functions/${fn}/async`, { method: 'POST', body });
  assert.equal(r.status, 202, `${await r.clone().text()}\n${s1.out().slice(-4000)}`);
  return ((await r.json()) as { id: string }).id;
}

/** waits until every id has finished, then returns their records */
async function allFinished(url: string, ids: string[], timeoutMs = 120_000): Promise<Rec[]> {
  return until(
    `${ids.length} invocations finish`,
    async () => {
      const recs = await Promise.all(ids.map((id) => record(url, id)));
      return recs.every((r) => r.status !== 'queued' && r.status !== 'running') ? recs : undefined;
    },
    timeoutMs,
  );
}

const x86Sleeper = (name: string, secs: number) => ({
  'agni.yaml': `name: ${name}\nruntime: host\ncommand: ["/bin/sh", "-c", "sleep ${secs}; echo done"]\nplacement:\n  labels:\n    pool: x86\n`,
});

test('an arm64-only function runs only on the arm64 node, where uname -m says aarch64', async () => {
  const dir = tempDir('agni-cluster-fn-');
  mkdirSync(join(dir, 'fn'));
  writeFileSync(
    join(dir, 'fn', 'agni.yaml'),
    `name: arch\nruntime: ${armRef}\ncommand: ["/bin/uname", "-m"]\n`,
  );
  const r = await fetch(`${url1}/v1/functions`, {
    method: 'POST',
    headers: { 'content-type': 'application/gzip' },
    body: new Uint8Array(await tarOf(join(dir, 'fn'))),
  });
  assert.ok(r.status < 300, await r.clone().text());
  const ids = await Promise.all(
    Array.from({ length: 6 }, async () => {
      const res = await fetch(`${url1}/v1/functions/arch/invoke`, { method: 'POST', body: '' });
      const text = await res.text();
      assert.equal(res.status, 200, text);
      assert.equal(text.trim(), 'aarch64');
      return res.headers.get('agni-invocation-id')!;
    }),
  );
  for (const id of ids) assert.equal((await record(url1, id)).node, ARM);
});

test('a per-second cron fires once per tick across two servers, and one SIGKILLed leaves the other serving', async () => {
  await deployFiles(url1, {
    'agni.yaml':
      'name: ticker\nruntime: host\ncommand: cat\nplacement:\n  labels:\n    pool: x86\ntriggers:\n  - cron: "* * * * * *"\n    payload: tick\n',
  });
  const ticks = async () =>
    (
      await query<{ k: string }>(
        "SELECT idempotency_key AS k FROM async_invocations WHERE function = 'ticker'",
      )
    ).map((r) => r.k);
  await until('several ticks before the kill', async () => ((await ticks()).length >= 4 ? true : undefined));
  const killedAt = Date.now();
  s2.p.kill('SIGKILL');
  await until('s2 is gone', async () => (alive(s2.p) ? undefined : true));
  // s1 keeps serving, synchronously and its schedule.
  await deployFiles(url1, {
    'agni.yaml': 'name: echo\nruntime: host\ncommand: cat\nplacement:\n  labels:\n    pool: x86\n',
  });
  const res = await fetch(`${url1}/v1/functions/echo/invoke`, { method: 'POST', body: 'still here' });
  assert.equal(res.status, 200);
  assert.equal(await res.text(), 'still here');
  const afterKill = (keys: string[]) =>
    keys.filter((k) => Date.parse(k.split(':').slice(3).join(':')) > killedAt + 1000).length;
  await until('several ticks after the kill', async () => (afterKill(await ticks()) >= 4 ? true : undefined));
  await fetch(`${url1}/v1/functions/ticker`, { method: 'DELETE' });
  const keys = await ticks();
  // One invocation per scheduled tick: no tick twice, and none skipped while both ran or after.
  assert.equal(new Set(keys).size, keys.length, 'a tick fired twice');
  const times = keys.map((k) => Date.parse(k.split(':').slice(3).join(':'))).sort((a, b) => a - b);
  assert.ok(
    times.every((t) => Number.isFinite(t)),
    keys.join(' '),
  );
  const fires = Number(
    (await query<{ fires: string }>("SELECT fires FROM trigger_state WHERE function = 'ticker'"))[0]?.fires ??
      0,
  );
  assert.ok(fires <= keys.length, `${fires} fires counted for ${keys.length} invocations`);
  assert.ok(afterKill(keys) >= 4, `ticks after the kill: ${keys.join(' ')}`);
});

/**
 * submits until accepted; while NATS or the database is away a refusal must be 503 with
 * Retry-After (never a bare 500), and it is then tried again
 */
async function submitRetrying(url: string, fn: string): Promise<{ id: string; refused: number }> {
  for (let refused = 0; ; refused++) {
    const r = await fetch(`${url}/v1/functions/${fn}/async`, { method: 'POST', body: '' });
    const text = await r.text();
    if (r.status === 202) return { id: (JSON.parse(text) as { id: string }).id, refused };
    assert.equal(r.status, 503, text);
    assert.ok(Number(r.headers.get('retry-after')) > 0, `Retry-After: ${r.headers.get('retry-after')}`);
    if (refused > 200) assert.fail(`still refused: ${text}`);
    await sleep(250);
  }
}

test('NATS and PostgreSQL restarted mid-run: nothing accepted is lost; the API answers 503 with Retry-After meanwhile', async () => {
  await deployFiles(url1, x86Sleeper('nap', 1));
  const before = await Promise.all(Array.from({ length: 8 }, () => submit(url1, 'nap')));
  await until('some run', async () =>
    (await Promise.all(before.map((id) => record(url1, id)))).some((r) => r.status === 'running')
      ? true
      : undefined,
  );
  await nats!.stop();
  // Submissions while NATS is away and while it comes back: refused 503, or accepted.
  const duringNats = (async () => {
    const ids: string[] = [];
    let refused = 0;
    for (let i = 0; i < 4; i++) {
      const s = await submitRetrying(url1, 'nap');
      ids.push(s.id);
      refused += s.refused;
    }
    console.log(`while NATS restarted: ${refused} submissions refused 503, ${ids.length} accepted`);
    return ids;
  })();
  await sleep(1000);
  await nats!.start();
  const middle = await duringNats;
  await pgs!.stop();
  let refusedByDb = 0;
  try {
    const r = await until('the API answers 503 while the database is down', async () => {
      const r = await fetch(`${url1}/v1/functions/nap/async`, { method: 'POST', body: '' });
      await r.body?.cancel();
      return r.status === 503 ? r : undefined;
    });
    assert.ok(Number(r.headers.get('retry-after')) > 0, `Retry-After: ${r.headers.get('retry-after')}`);
    refusedByDb++;
  } finally {
    await pgs!.start();
  }
  const after = await submitRetrying(url1, 'nap');
  const ids = [...before, ...middle, after.id];
  const recs = await allFinished(url1, ids, 150_000);
  assert.deepEqual(
    recs.map((r) => r.status),
    ids.map(() => 'succeeded'),
    JSON.stringify(recs),
  );
  assert.equal(refusedByDb, 1);
});

test('an agent whose link is cut is marked lost and its async work is redelivered to the other agent', async () => {
  await deployFiles(url1, x86Sleeper('cutnap', 3));
  const ids = await Promise.all(Array.from({ length: 4 }, () => submit(url1, 'cutnap')));
  const x1 = agents.get(X1)!;
  const onX1 = await until('a call runs on x1', async () => {
    const recs = await Promise.all(ids.map(async (id) => ({ id, ...(await record(url1, id)) })));
    const mine = recs.filter((r) => r.status === 'running' && r.node === X1);
    return mine.length > 0 ? mine.map((r) => r.id) : undefined;
  });
  await hosts!.cut(x1.host);
  try {
    await until('x1 is lost', async () =>
      (await nodes(url1)).find((n) => n.name === X1)?.state === 'lost' ? true : undefined,
    );
    const recs = await allFinished(url1, ids);
    for (const r of recs) assert.equal(r.status, 'succeeded', JSON.stringify(r));
    for (const id of onX1) assert.equal((await record(url1, id)).node, X2, `${id} finished on x2`);
  } finally {
    await hosts!.heal(x1.host);
  }
  await until('x1 rejoins', async () =>
    (await nodes(url1)).find((n) => n.name === X1)?.state === 'ready' ? true : undefined,
  );
});

test('SIGKILL of an agent during 20 async invocations: all 20 finish elsewhere', async () => {
  await deployFiles(url1, x86Sleeper('killnap', 1));
  const ids = await Promise.all(Array.from({ length: 20 }, () => submit(url1, 'killnap')));
  const victim = agents.get(X1)!;
  const onVictim = await until('a call runs on x1', async () => {
    const recs = await Promise.all(ids.map(async (id) => ({ id, ...(await record(url1, id)) })));
    const mine = recs.filter((r) => r.status === 'running' && r.node === X1);
    return mine.length > 0 ? mine.map((r) => r.id) : undefined;
  });
  victim.p.kill('SIGKILL');
  const recs = await allFinished(url1, ids);
  assert.deepEqual(
    recs.map((r) => r.status),
    ids.map(() => 'succeeded'),
    JSON.stringify(recs),
  );
  for (const id of onVictim) assert.equal((await record(url1, id)).node, X2, `${id} finished on x2`);
});

test('nothing is left behind on any node after it stops', async () => {
  const arm = agents.get(ARM)!;
  const live = procs.filter((p) => alive(p) && p.spawnargs.includes(CLI));
  const exits = live.map((p) => new Promise((r) => p.once('exit', r)));
  for (const p of live) p.kill('SIGTERM');
  await Promise.all(exits);
  // the arm64 agent ran runc sandboxes: none left in its state root
  const root = join(arm.home, 'run', 'runc');
  const listed = execFileSync('runc', ['--root', root, 'list', '-q'], { encoding: 'utf8' }).trim();
  assert.equal(listed, '', `runc containers left: ${listed}`);
  // no cgroup or process of any agent's sandboxes
  const pids = execFileSync('ps', ['-eo', 'pid,args'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => [...agents.values()].some((a) => l.includes(a.home)));
  assert.deepEqual(pids, []);
  for (const a of agents.values()) {
    const mounts = execFileSync('cat', ['/proc/self/mounts'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.includes(a.home));
    assert.deepEqual(mounts, [], `mounts under ${a.home}`);
  }
  await hosts!.destroy();
  assert.deepEqual(netnsLeftovers(process.pid), []);
  // every process this file started is gone
  assert.deepEqual(
    procs.filter(alive).map((p) => p.spawnargs.join(' ')),
    [],
  );
});
