/**
 * `npm run bench:cluster`: a real cluster on this machine (its own nats-server -js, a throwaway
 * PostgreSQL database, docker-registry, `agni server`, agents in network namespaces reaching them
 * over veth links) beside `agni up`, in one run:
 * 1. no-op latency, prewarmed (runc, `pool: {min: 1, max: 2}`) and warm (`lifecycle: warm`),
 *    through the server to an agent in another netns vs the same function in `agni up`;
 * 2. scale-out of a 0.5 s sleep over 1, 2 and 4 agents of 4 slots (process backend);
 * 3. the async dispatch rate of no-ops over 4 agents, and the time from an agent's SIGKILL
 *    during a batch of 1 s sleeps to the last of its redelivered invocations finishing.
 * Everything it starts (processes, namespaces, temp dirs, the database) goes at the end.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { type NatsConnection, connect as natsConnect } from 'nats';
import pg from 'pg';
import { type Summary, summarize } from '../src/bench/stats.js';
import { stamp } from '../src/core/phases.js';
import { formatMs } from '../src/core/units.js';
import { TEST_PG_URL } from '../src/store/test-stores.js';
import { CLI } from '../test/helpers/agni-up.js';
import { createNetnsHosts, type NetnsHosts } from '../test/helpers/netns-hosts.js';
import { untilReady } from '../test/helpers/ready-process.js';
import { freePort, startRegistry, type TestRegistry } from '../test/helpers/registry.js';
import { fnDir, tarOf } from '../test/helpers/tarball.js';

const N = Number(process.env.BENCH_N ?? 50);
const WARMUP = 5;
const ASYNC_N = Number(process.env.BENCH_ASYNC_N ?? 400);
const GAP_MS = 200;
const PER_CLIENT = 6; // sleeps each scale-out client makes in turn
/** which parts run (default all): `BENCH_PARTS=latency` reruns only the no-op latency, in about 20 s */
const PARTS = new Set((process.env.BENCH_PARTS ?? 'latency,scale').split(','));
/** the servers' token: both roles check it in memory, as a deployment with a server token does */
const TOKEN = randomBytes(24).toString('hex');
const AUTH = { authorization: `Bearer ${TOKEN}` };
const out = process.stdout;
const log = (s: string) => process.stderr.write(`${s}\n`);

const procs: ChildProcess[] = [];
const dirs: string[] = [];
let hosts: NetnsHosts | undefined;
let registry: TestRegistry | undefined;
let dbName: string | undefined;
let nc: NatsConnection | undefined;

function tmp(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

/** node flags for the server, agents and agni up it starts (e.g. `--cpu-prof --cpu-prof-dir=DIR`) */
const NODE_ARGS = (process.env.BENCH_NODE_ARGS ?? '').split(' ').filter(Boolean);

function start(cmd: string, argv: string[], ready: RegExp, what: string, inHost?: number) {
  const args = cmd === process.execPath ? [...NODE_ARGS, ...argv] : argv;
  const opts = {
    stdio: ['ignore', 'pipe', 'pipe'] as ('ignore' | 'pipe')[],
    // every server here (agni up and agni server) needs the token, as one on a network would
    env: { ...process.env, AGNI_LOG_LEVEL: 'warn', AGNI_TOKEN: TOKEN },
  };
  // `ip netns exec` (hosts.spawn) remounts /sys in a mount namespace of its own, which hides the
  // cgroup mounts runc needs ("no cgroup mount found in mountinfo"): enter only the network
  // namespace, with the harness's owner mark so its sweep still finds the process
  const p =
    inHost === undefined
      ? spawn(cmd, args, opts)
      : spawn('nsenter', [`--net=/run/netns/${hosts!.hosts[inHost]!.ns}`, cmd, ...args], {
          ...opts,
          env: { ...opts.env, AGNI_NETNS_OWNER: String(process.pid) },
        });
  procs.push(p);
  return untilReady(p, ready, what, 60_000);
}

async function stop(p: ChildProcess, signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
  if (p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill(signal);
  await Promise.race([exited, sleep(15_000)]);
  if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
}

async function admin(sql: string): Promise<void> {
  const c = new pg.Client({ connectionString: TEST_PG_URL });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
}

async function deploy(url: string, files: Record<string, string>): Promise<void> {
  const r = await fetch(`${url}/v1/functions`, {
    method: 'POST',
    headers: { 'content-type': 'application/gzip', ...AUTH },
    body: new Uint8Array(await tarOf(fnDir(files))),
  });
  if (r.status !== 201) throw new Error(`deploy failed: ${r.status} ${await r.text()}`);
}

async function invoke(url: string, fn: string): Promise<{ ms: number; id: string }> {
  const t0 = stamp();
  const r = await fetch(`${url}/v1/functions/${fn}/invoke`, { method: 'POST', body: '', headers: AUTH });
  const body = Buffer.from(await r.arrayBuffer());
  const ms = stamp() - t0;
  if (r.status !== 200 || r.headers.get('agni-status') === 'error')
    throw new Error(`${fn} failed with ${r.status}: ${body.toString().slice(0, 500)}`);
  return { ms, id: r.headers.get('agni-invocation-id')! };
}

interface Rec {
  id: string;
  node?: string;
  status: string;
  mode?: string;
  phases: Record<string, number>;
}

async function record(url: string, id: string): Promise<Rec> {
  return (await (await fetch(`${url}/v1/invocations/${id}`, { headers: AUTH })).json()) as Rec;
}

/**
 * N sequential calls to each of `urls` after WARMUP, interleaved (A B, B A, A B, …) so both sides
 * see the same load of a shared machine; with `gapMs`, an untimed pause before each call so a
 * prewarmed pool has refilled (as `agni bench cold` does for its prewarmed mode)
 */
async function latency(
  urls: readonly string[],
  fn: string,
  gapMs: number,
  /** one bare NATS round trip to the agent's namespace, timed between the calls (the floor) */
  floor: () => Promise<number>,
  floors: number[],
): Promise<{ s: number[]; phases: Record<string, Summary> }[]> {
  for (let i = 0; i < WARMUP; i++) for (const url of urls) await invoke(url, fn);
  const runs = urls.map(() => ({ s: [] as number[], ids: [] as string[] }));
  for (let i = 0; i < N; i++) {
    const order = urls.map((_, k) => k);
    if (i % 2 === 1) order.reverse();
    for (const k of order) {
      if (gapMs > 0) await sleep(gapMs);
      const r = await invoke(urls[k]!, fn);
      runs[k]!.s.push(r.ms);
      runs[k]!.ids.push(r.id);
    }
    floors.push(await floor());
  }
  // where the time goes: consecutive phases of each record, and the client's time outside them
  return Promise.all(
    runs.map(async ({ s, ids }, k) => {
      const deltas: Record<string, number[]> = {};
      for (const [i, id] of ids.entries()) {
        const p = (await record(urls[k]!, id)).phases;
        const reached = PHASES.filter((x) => p[x] !== undefined);
        const add = (x: string, v: number) => {
          deltas[x] ??= [];
          deltas[x].push(v);
        };
        for (let j = 1; j < reached.length; j++)
          add(`${reached[j - 1]} → ${reached[j]}`, p[reached[j]!]! - p[reached[j - 1]!]!);
        if (p.received !== undefined && p.finished !== undefined)
          add('client, outside received → finished', s[i]! - (p.finished - p.received));
      }
      return { s, phases: Object.fromEntries(Object.entries(deltas).map(([x, v]) => [x, summarize(v)])) };
    }),
  );
}

const PHASES = [
  'received',
  'placed',
  'dispatched',
  'sandbox_ready',
  'started',
  'first_byte',
  'finished',
] as const;

/** the nodes the server would place a call on now (a stopped agent stays listed, draining or lost) */
async function nodes(url: string): Promise<string[]> {
  const r = (await (await fetch(`${url}/v1/nodes`, { headers: AUTH })).json()) as {
    nodes: { name: string; state: string }[];
  };
  return r.nodes.filter((n) => n.state === 'ready').map((n) => n.name);
}

async function waitNodes(url: string, want: number): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if ((await nodes(url)).length === want) return;
    await sleep(100);
  }
  throw new Error(`the server never saw ${want} nodes (sees ${(await nodes(url)).join(', ')})`);
}

async function main(): Promise<void> {
  const tag = `b${process.pid}`;
  const natsPort = await freePort();
  const jsDir = tmp('agni-bench-js-');
  await start(
    'nats-server',
    ['-js', '-sd', jsDir, '-a', '127.0.0.1', '-p', String(natsPort)],
    /Server is ready/,
    'nats-server',
  );
  registry = await startRegistry();
  const registryPort = Number(registry.host.split(':')[1]);
  hosts = await createNetnsHosts(5);
  await hosts.forward(natsPort);
  await hosts.forward(registryPort);
  dbName = `agni_bench_${process.pid}`;
  await admin(`CREATE DATABASE ${dbName} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'`);
  const pgUrl = new URL(TEST_PG_URL);
  pgUrl.pathname = `/${dbName}`;
  const serverHome = tmp('agni-bench-server-');
  const server = await start(
    process.execPath,
    [
      CLI,
      'server',
      '--store',
      pgUrl.toString(),
      '--nats',
      `nats://127.0.0.1:${natsPort}`,
      '--registry',
      registry.host,
      '--port',
      '0',
      '--home',
      serverHome,
      // async calls in flight from this server (default: its cores); room for 4 agents of 4 slots
      '--slots',
      '16',
    ],
    /listening on (http:\/\/\S+)/,
    'agni server',
  );
  const url = server.match[1]!;
  const agent = (host: number, name: string, backend: string) =>
    start(
      process.execPath,
      [
        CLI,
        'agent',
        '--nats',
        `nats://${hosts!.hosts[host]!.gateway}:${natsPort}`,
        '--registry',
        `${hosts!.hosts[host]!.gateway}:${registryPort}`,
        '--insecure-registry',
        '--name',
        name,
        '--slots',
        '4',
        '--home',
        tmp(`agni-bench-${name}-`),
        '--backend',
        backend,
      ],
      /serving/,
      `agni agent ${name}`,
      host,
    );
  const lat: Record<
    string,
    {
      up: Summary;
      cluster: Summary;
      overhead: number;
      pairedOverhead: number;
      natsRoundTrip: Summary;
      gapMs: number;
      phases: Record<string, Record<string, Summary>>;
    }
  > = {};
  if (PARTS.has('latency')) {
    const upHome = tmp('agni-bench-up-');
    const up = await start(
      process.execPath,
      [CLI, 'up', '--port', '0', '--home', upHome, '--backend', 'runc'],
      /listening on (http:\/\/\S+)/,
      'agni up',
    );
    const upUrl = up.match[1]!;

    // 1. latency: the same functions in agni up and through the server to a runc agent in a netns
    const fns: Record<string, Record<string, string>> = {
      'noop-pre': {
        'agni.yaml':
          'name: noop-pre\nruntime: host\ncommand: ["/bin/true"]\npool:\n  min: 1\n  max: 2\nlimits:\n  memory: 32Mi\n  timeout: 5s\n',
      },
      'noop-warm': {
        'agni.yaml':
          'name: noop-warm\nruntime: host\ncommand: ["python3", "/fn/main.py"]\nlifecycle: warm\npool:\n  max: 2\nlimits:\n  memory: 64Mi\n  timeout: 5s\n',
        'main.py': readFileSync(resolve('examples/noop-warm/main.py'), 'utf8'),
      },
    };
    const runcAgent = await agent(0, `${tag}-runc`, 'runc');
    await waitNodes(url, 1);
    // The floor: a bare request/reply between this process and one in the agent's namespace over
    // the same NATS and link. A cluster call crosses NATS at least that much (start out, result
    // back), so no dispatcher can add less than this on this machine at this moment.
    const echo = await start(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { connect } from 'nats'; const nc = await connect({ servers: process.argv[1] }); nc.subscribe('bench.echo', { callback: (e, m) => m.respond(m.data) }); await nc.flush(); console.log('echo ready');`,
        `nats://${hosts!.hosts[0]!.gateway}:${natsPort}`,
      ],
      /echo ready/,
      'nats echo',
      0,
    );
    nc = await natsConnect({ servers: `nats://127.0.0.1:${natsPort}` });
    const probe = async () => {
      const t0 = performance.now();
      await nc!.request('bench.echo', new Uint8Array(64), { timeout: 5_000 });
      return performance.now() - t0;
    };
    for (const [fn, files] of Object.entries(fns)) {
      await deploy(upUrl, files);
      await deploy(url, files);
      const gapMs = fn === 'noop-pre' ? GAP_MS : 0;
      const floors: number[] = [];
      const [u, c] = await latency([upUrl, url], fn, gapMs, probe, floors);
      log(`  ${fn}: ${N} calls each in agni up and through the server, interleaved`);
      const su = summarize(u!.s);
      const sc = summarize(c!.s);
      lat[fn] = {
        up: su,
        cluster: sc,
        overhead: sc.median - su.median,
        // the same, call by call: the nth cluster call less the nth agni up call next to it
        pairedOverhead: summarize(c!.s.map((x, i) => x - u!.s[i]!)).median,
        natsRoundTrip: summarize(floors),
        gapMs,
        phases: { up: u!.phases, cluster: c!.phases },
      };
    }
    await nc.close();
    nc = undefined;
    await stop(echo.p);
    await stop(up.p);
    await stop(runcAgent.p);
    await waitNodes(url, 0);
  }
  const scale: {
    agents: number;
    clients: number;
    calls: number;
    seconds: number;
    callsPerSec: number;
    ratio: number;
  }[] = [];
  let asyncRes:
    | {
        n: number;
        submitMs: number;
        totalMs: number;
        itemsPerSec: number;
        succeeded: number;
        perNode: Record<string, number>;
      }
    | undefined;
  let killRes:
    | {
        batch: number;
        victim: string;
        runningOnVictim: number;
        redeliveredSucceeded: number;
        redeliveredNodes: (string | undefined)[];
        killToLastMs: number;
        batchSucceeded: number;
      }
    | undefined;
  if (PARTS.has('scale')) {
    // 2. scale-out: 4 clients per agent, each making PER_CLIENT calls of a 0.5 s sleep in turn
    await deploy(url, {
      'agni.yaml': 'name: nap\nruntime: host\ncommand: ["/bin/sleep", "0.5"]\nlimits:\n  timeout: 10s\n',
    });
    await deploy(url, {
      'agni.yaml': 'name: nop\nruntime: host\ncommand: ["/bin/true"]\nlimits:\n  timeout: 10s\n',
    });
    await deploy(url, {
      'agni.yaml': 'name: nap1\nruntime: host\ncommand: ["/bin/sleep", "1"]\nlimits:\n  timeout: 10s\n',
    });
    const agents: ChildProcess[] = [];
    const names: string[] = [];
    for (const n of [1, 2, 4]) {
      while (agents.length < n) {
        const name = `${tag}-a${agents.length + 1}`;
        agents.push((await agent(agents.length + 1, name, 'process')).p);
        names.push(name);
      }
      await waitNodes(url, n);
      // one round to warm the code caches of every agent
      await Promise.all(Array.from({ length: 4 * n }, () => invoke(url, 'nap')));
      const t0 = stamp();
      await Promise.all(
        Array.from({ length: 4 * n }, async () => {
          for (let i = 0; i < PER_CLIENT; i++) await invoke(url, 'nap');
        }),
      );
      const seconds = (stamp() - t0) / 1000;
      const calls = 4 * n * PER_CLIENT;
      const cps = calls / seconds;
      const base = scale[0]?.callsPerSec ?? cps;
      scale.push({ agents: n, clients: 4 * n, calls, seconds, callsPerSec: cps, ratio: cps / (n * base) });
      log(`  scale-out over ${n} agent(s): ${calls} calls in ${seconds.toFixed(2)} s`);
    }

    // 3a. async dispatch rate of no-ops over the 4 agents
    const submitAsync = async (fn: string) => {
      const r = await fetch(`${url}/v1/functions/${fn}/async`, { method: 'POST', body: '', headers: AUTH });
      if (r.status !== 202) throw new Error(`async submit failed: ${r.status} ${await r.text()}`);
      return ((await r.json()) as { id: string }).id;
    };
    const settled = async (ids: string[]): Promise<Rec[]> => {
      const end = Date.now() + 60_000;
      for (;;) {
        const recs = await Promise.all(ids.map((id) => record(url, id)));
        const open = recs.filter((r) => ['queued', 'running'].includes(r.status));
        if (open.length === 0) return recs;
        if (Date.now() > end) throw new Error(`not settled after 60 s: ${JSON.stringify(open.slice(0, 3))}`);
        await sleep(100);
      }
    };
    const warmIds: string[] = [];
    for (let i = 0; i < 8; i++) warmIds.push(await submitAsync('nop')); // warm every agent's code cache
    await settled(warmIds);
    const a0 = stamp();
    const asyncIds: string[] = [];
    for (let i = 0; i < ASYNC_N; i += 20)
      asyncIds.push(
        ...(await Promise.all(Array.from({ length: Math.min(20, ASYNC_N - i) }, () => submitAsync('nop')))),
      );
    const submitted = stamp() - a0;
    const recs = await settled(asyncIds);
    const lastFinished = Math.max(...recs.map((r) => r.phases.finished ?? 0));
    const asyncMs = lastFinished - a0;
    const perNode: Record<string, number> = {};
    for (const r of recs) perNode[r.node ?? '?'] = (perNode[r.node ?? '?'] ?? 0) + 1;
    asyncRes = {
      n: ASYNC_N,
      submitMs: submitted,
      totalMs: asyncMs,
      itemsPerSec: ASYNC_N / (asyncMs / 1000),
      succeeded: recs.filter((r) => r.status === 'succeeded').length,
      perNode,
    };
    log(`  async: ${ASYNC_N} no-ops settled in ${asyncMs.toFixed(0)} ms`);

    // 3b. SIGKILL of an agent during a batch of 1 s sleeps
    const batch = await Promise.all(Array.from({ length: 32 }, () => submitAsync('nap1')));
    // the victim: a node once it runs all 4 of its slots of the batch
    let victim: string | undefined;
    let onVictim: string[] = [];
    for (let i = 0; i < 200 && onVictim.length < 4; i++) {
      await sleep(25);
      const rs = await Promise.all(batch.map((id) => record(url, id)));
      const by = new Map<string, string[]>();
      for (const r of rs)
        if (r.status === 'running' && r.node) by.set(r.node, [...(by.get(r.node) ?? []), r.id]);
      [victim, onVictim] = [...by.entries()].sort((a, b) => b[1].length - a[1].length)[0] ?? [undefined, []];
    }
    if (!victim) throw new Error('no invocation of the batch ever ran');
    const idx = names.indexOf(victim);
    const killAt = Date.now();
    agents[idx]!.kill('SIGKILL');
    const batchRecs = await settled(batch);
    const redelivered = batchRecs.filter((r) => onVictim.includes(r.id));
    const lastRedelivered = Math.max(...redelivered.map((r) => r.phases.finished ?? 0));
    killRes = {
      batch: batch.length,
      victim,
      runningOnVictim: onVictim.length,
      redeliveredSucceeded: redelivered.filter((r) => r.status === 'succeeded').length,
      redeliveredNodes: [...new Set(redelivered.map((r) => r.node))],
      killToLastMs: lastRedelivered - killAt,
      batchSucceeded: batchRecs.filter((r) => r.status === 'succeeded').length,
    };
    log(`  SIGKILL of ${victim}: its last redelivered invocation finished ${killRes.killToLastMs} ms later`);
  }

  // tables
  if (PARTS.has('latency')) {
    out.write(
      `\nno-op latency, N=${N} sequential calls each after ${WARMUP} warm-ups, agni up and cluster interleaved (cluster: server → agent in a netns, runc)\n`,
    );
    out.write(`${'what'.padEnd(26)} ${'median'.padStart(9)} ${'p90'.padStart(9)} ${'mean'.padStart(9)}\n`);
    for (const [fn, r] of Object.entries(lat)) {
      for (const [k, s] of [
        ['agni up', r.up],
        ['cluster', r.cluster],
      ] as const)
        out.write(
          `${`${fn}, ${k}`.padEnd(26)} ${formatMs(s.median).padStart(9)} ${formatMs(s.p90).padStart(9)} ${formatMs(s.mean).padStart(9)}\n`,
        );
      out.write(
        `${`${fn}, overhead`.padEnd(26)} ${formatMs(r.overhead).padStart(9)}  (target ≤ 2 ms: ${r.overhead <= 2 ? 'met' : 'MISSED'}; median of paired differences ${formatMs(r.pairedOverhead)})${r.gapMs ? `; ${r.gapMs} ms untimed gap before each call (the pool refills)` : ''}\n`,
      );
      out.write(
        `${`${fn}, NATS floor`.padEnd(26)} ${formatMs(r.natsRoundTrip.median).padStart(9)} ${formatMs(r.natsRoundTrip.p90).padStart(9)} ${formatMs(r.natsRoundTrip.mean).padStart(9)}  (a bare request/reply to the agent's namespace between the calls; overhead = ${(r.pairedOverhead / r.natsRoundTrip.median).toFixed(1)}x it, paired)\n`,
      );
    }
    out.write('\nwhere the time goes (median per phase step, from the invocation records)\n');
    for (const [fn, r] of Object.entries(lat))
      for (const [k, ph] of Object.entries(r.phases))
        for (const [step, sm] of Object.entries(ph))
          out.write(
            `  ${`${fn}, ${k}`.padEnd(20)} ${step.padEnd(38)} ${formatMs(sm.median).padStart(9)}  p90 ${formatMs(sm.p90).padStart(9)}\n`,
          );
  }
  if (asyncRes && killRes) {
    out.write(`\nscale-out, 0.5 s sleeps, 4 slots per agent, ${PER_CLIENT} calls per client\n`);
    out.write(
      `${'agents'.padEnd(8)} ${'clients'.padStart(8)} ${'calls'.padStart(6)} ${'seconds'.padStart(8)} ${'calls/s'.padStart(8)} ${'vs linear'.padStart(10)}\n`,
    );
    for (const s of scale)
      out.write(
        `${String(s.agents).padEnd(8)} ${String(s.clients).padStart(8)} ${String(s.calls).padStart(6)} ${s.seconds.toFixed(2).padStart(8)} ${s.callsPerSec.toFixed(2).padStart(8)} ${`${s.ratio.toFixed(2)}x`.padStart(10)}\n`,
      );
    out.write(`(target ≥ 0.9x: ${scale.every((s) => s.ratio >= 0.9) ? 'met' : 'MISSED'})\n`);
    out.write(
      `\nasync: ${ASYNC_N} no-ops over 4 agents: ${asyncRes.itemsPerSec.toFixed(1)} items/s (submitted in ${formatMs(asyncRes.submitMs)}, all settled after ${formatMs(asyncRes.totalMs)}), ${asyncRes.succeeded} succeeded, per node ${JSON.stringify(asyncRes.perNode)}\n`,
    );
    out.write(
      `SIGKILL of ${killRes.victim} during ${killRes.batch} async 1 s sleeps: ${killRes.runningOnVictim} running on it, all redelivered and finished ${formatMs(killRes.killToLastMs)} after the kill (${killRes.redeliveredSucceeded} succeeded, on ${killRes.redeliveredNodes.join(', ')}); batch ${killRes.batchSucceeded}/${killRes.batch} succeeded\n`,
    );
  }

  const result = {
    benchmark: 'cluster',
    parts: [...PARTS],
    date: new Date().toISOString(),
    n: N,
    warmup: WARMUP,
    machine: {
      cpus: availableParallelism(),
      model: cpus()[0]?.model,
      memGiB: totalmem() / 2 ** 30,
      loadavg: loadavg(),
      node: process.version,
    },
    latency: lat,
    scale,
    async: asyncRes,
    sigkill: killRes,
  };
  const dir = resolve('bench/results');
  mkdirSync(dir, { recursive: true });
  // a partial run (BENCH_PARTS) never stands in for a whole one
  const kind = PARTS.has('latency') && PARTS.has('scale') ? 'cluster' : `cluster-${[...PARTS].join('-')}`;
  const file = join(dir, `${kind}-${result.date.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(dir, `${kind}-latest.json`), `${JSON.stringify(result, null, 2)}\n`);
  out.write(`\nJSON: ${file}\n`);
}

async function cleanup(): Promise<void> {
  await nc?.close().catch(() => undefined);
  for (const p of [...procs].reverse()) await stop(p);
  await hosts?.destroy();
  await registry?.close();
  if (dbName) await admin(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`).catch(() => undefined);
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
}

try {
  await main();
} finally {
  await cleanup();
}
