/**
 * Issue 15's features where the roles differ, in a real cluster: its own nats-server -js, a
 * registry, one PostgreSQL database, two `agni server` and one `agni agent --backend runc` spawned
 * through the CLI. A secret set on server A reaches a sandbox on the agent (which has no database)
 * for a call made through server B, sealed on the wire: its value is looked for in every process's
 * output (at debug) and in every message seen on NATS. `agni logs -f`'s stream on one server shows
 * calls made through the other; metrics, nodes and the dashboard answer on a server.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { connect, type NatsConnection } from 'nats';
import { newKeyPair } from '../src/cluster/secret-seal.js';
import { SECRETS_SUBJECT } from '../src/cluster/subjects.js';
import { CLI, runCli } from './helpers/agni-up.js';
import { deployFiles } from './helpers/deploy.js';
import { testStoreFor } from './helpers/pg-store.js';
import { type ReadyProcess, untilReady, watchOutput } from './helpers/ready-process.js';
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

const sha = (b: string) => createHash('sha256').update(b).digest('hex');

type Proc = ReadyProcess;

const procs: ChildProcess[] = [];
let registry: TestRegistry | undefined;
let snoop: NatsConnection | undefined;
/** every message body seen on the test's NATS */
const wire: Buffer[] = [];
const outputs: (() => string)[] = [];
/** temporary directories, removed at the end */

after(async () => {
  await snoop?.close().catch(() => {});
  const exited = (p: ChildProcess) => p.exitCode !== null || p.signalCode !== null;
  for (const p of procs) if (!exited(p)) p.kill('SIGTERM');
  // A role that does not stop within its grace period is killed: the test must never hang here.
  await Promise.all(
    procs.map((p) =>
      exited(p)
        ? undefined
        : Promise.race([
            new Promise((r) => p.once('exit', r)),
            sleep(30_000, undefined, { ref: false }).then(() => p.kill('SIGKILL')),
          ]),
    ),
  );
  await registry?.close();
});

/** spawns `cmd args` (logging at debug), resolving once its output matches `ready` */
function start(cmd: string, args: string[], ready: RegExp, what: string): Promise<Proc> {
  const p = spawn(cmd, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, AGNI_LOG_LEVEL: 'debug' },
  });
  procs.push(p);
  const out = watchOutput(p);
  outputs.push(out);
  return untilReady(p, ready, what, 60_000, out);
}

const tag = `t${process.pid}`;
const agentName = `${tag}-team`;
const value1 = `team-pw-${randomBytes(12).toString('hex')}`;
const value2 = `team-pw2-${randomBytes(12).toString('hex')}`;
const forbidden = [value1, value2].flatMap((v) => [
  v,
  Buffer.from(v).toString('base64'),
  Buffer.from(v).toString('hex'),
]);
let urlA = '';
let urlB = '';

before(async () => {
  const natsPort = await freePort();
  const natsUrl = `nats://127.0.0.1:${natsPort}`;
  const jsDir = tempDir('agni-team-js-');
  await start(
    'nats-server',
    ['-js', '-sd', jsDir, '-a', '127.0.0.1', '-p', String(natsPort)],
    /Server is ready/,
    'nats-server',
  );
  snoop = await connect({ servers: natsUrl, name: 'test-snoop' });
  snoop.subscribe('>', { callback: (_e, m) => wire.push(Buffer.from(m.data)) });
  registry = await startRegistry();
  const base = tempDir('agni-team-');
  const store = (await testStoreFor(base, true))!;
  // Every server of a cluster seals and opens secrets with the same key (docs/cluster.md).
  const key = randomBytes(32);
  const server = async (n: string) => {
    const home = join(base, n);
    mkdirSync(home, { mode: 0o700 });
    writeFileSync(join(home, 'server.key'), key, { mode: 0o600 });
    const args = [CLI, 'server', '--store', store, '--nats', natsUrl, '--registry', registry!.host];
    const s = await start(
      process.execPath,
      [...args, '--port', '0', '--home', home],
      /listening on (http:\/\/\S+)/,
      `agni server ${n}`,
    );
    return s.match[1]!;
  };
  urlA = await server('a');
  urlB = await server('b');
  await start(
    process.execPath,
    [
      CLI,
      'agent',
      '--nats',
      natsUrl,
      '--registry',
      registry.host,
      '--name',
      agentName,
      '--slots',
      '2',
      '--home',
      join(base, 'agent'),
      '--backend',
      'runc',
    ],
    /serving/,
    'agni agent',
  );
  for (const url of [urlA, urlB]) {
    let nodes: string[] = [];
    for (let i = 0; i < 200 && !nodes.includes(agentName); i++) {
      nodes = ((await (await fetch(`${url}/healthz`)).json()) as { nodes?: string[] }).nodes ?? [];
      if (!nodes.includes(agentName)) await sleep(100);
    }
    assert.ok(nodes.includes(agentName), `${url} never saw the agent`);
  }
});

async function invoke(url: string, fn: string): Promise<{ body: string; id: string }> {
  const r = await fetch(`${url}/v1/functions/${fn}/invoke`, { method: 'POST', body: '' });
  const body = await r.text();
  assert.equal(r.status, 200, body);
  return { body, id: r.headers.get('agni-invocation-id')! };
}

test('a secret set on one server reaches a sandbox on the agent for a call through the other, sealed', async () => {
  const set = await runCli(urlA, ['secret', 'set', 'team_pw'], value1);
  assert.equal(set.code, 0, set.stderr);
  await deployFiles(urlA, {
    'agni.yaml':
      'name: teamsec\nruntime: host\nsecrets: [team_pw]\ncommand: ["/bin/sh", "-c", "sha256sum /run/secrets/team_pw | cut -d\\" \\" -f1"]\n',
  });
  const first = await invoke(urlB, 'teamsec');
  assert.equal(first.body, `${sha(value1)}\n`);
  const rec = (await (await fetch(`${urlB}/v1/invocations/${first.id}`)).json()) as { node?: string };
  assert.equal(rec.node, agentName);
  // Set again: the agent's kept sandboxes go (function.changed), new ones get the new value.
  const again = await runCli(urlA, ['secret', 'set', 'team_pw'], value2);
  assert.equal(again.code, 0, again.stderr);
  let body = '';
  for (let i = 0; i < 50 && body !== `${sha(value2)}\n`; i++) {
    body = (await invoke(urlB, 'teamsec')).body;
    if (body !== `${sha(value2)}\n`) await sleep(200);
  }
  assert.equal(body, `${sha(value2)}\n`);
});

test('the servers answer an agent only for a deployed version, with an error code otherwise', async () => {
  const ask = async (req: object) =>
    JSON.parse(
      Buffer.from(
        (await snoop!.request(SECRETS_SUBJECT, JSON.stringify(req), { timeout: 10_000 })).data,
      ).toString(),
    ) as { error?: { code: string; message: string }; sealed?: unknown };
  const key = newKeyPair().publicKey;
  const missing = await ask({ function: 'teamsec', version: 99, key });
  assert.equal(missing.error?.code, 'version_not_found', JSON.stringify(missing));
  const bad = await ask({ function: 'teamsec', version: 1, key: 'bm9wZQ==' });
  assert.equal(bad.error?.code, 'bad_request');
  assert.match(bad.error?.message ?? '', /^key: /);
  const ok = await ask({ function: 'teamsec', version: 1, key });
  assert.ok(ok.sealed, JSON.stringify(ok));
});

test('the live invocation stream on one server shows calls made through the other', async () => {
  const ac = new AbortController();
  const res = await fetch(`${urlB}/v1/invocations/stream`, { signal: ac.signal });
  assert.equal(res.status, 200);
  const reader = res.body!.getReader();
  let text = '';
  assert.match(Buffer.from((await reader.read()).value!).toString(), /agni invocation stream/);
  // Read all along, so an echo off the bus arriving late would be seen too.
  const pump = (async () => {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) return;
      text += Buffer.from(value).toString();
    }
  })().catch(() => {});
  // One call through the other server, one through this one: each event of each shows once.
  const ids = [(await invoke(urlA, 'teamsec')).id, (await invoke(urlB, 'teamsec')).id];
  const finished = (id: string) => text.includes(`event: finished\ndata: {"type":"finished","id":"${id}"`);
  for (let i = 0; i < 300 && !ids.every(finished); i++) await sleep(100);
  assert.ok(ids.every(finished), `no finished events of ${ids} on B: ${text}`);
  await sleep(1000);
  ac.abort();
  await pump;
  for (const id of ids) {
    const events = text
      .split('\n\n')
      .filter((b) => b.includes(`"id":"${id}"`))
      .map((b) => /^event: (\w+)/m.exec(b)![1]);
    assert.deepEqual(events, ['received', 'placed', 'finished'], `each event of ${id} once`);
  }
});

test('metrics, nodes and the dashboard answer on a server', async () => {
  const metrics = await (await fetch(`${urlB}/metrics`)).text();
  assert.ok(metrics.includes(`node="${agentName}"`), 'a series labelled with the agent');
  const nodes = (await (await fetch(`${urlA}/v1/nodes`)).json()) as {
    nodes: { name?: string; node?: string }[];
  };
  assert.ok(
    nodes.nodes.some((n) => (n.name ?? n.node) === agentName),
    JSON.stringify(nodes),
  );
  const ui = await fetch(`${urlA}/ui/`);
  assert.equal(ui.status, 200);
  assert.match(await ui.text(), /<html/i);
});

test("no secret value in any process's output nor in any message on NATS", async () => {
  await snoop!.flush();
  assert.ok(wire.length > 0, 'the snoop saw traffic');
  const all = Buffer.concat(wire);
  for (const v of forbidden) assert.ok(!all.includes(v), 'a value crossed NATS in clear');
  const logs = outputs.map((o) => o()).join('\n');
  assert.ok(
    /secrets: sent sealed/.test(logs),
    'the servers logged at debug (the check below means something)',
  );
  for (const v of forbidden) assert.ok(!logs.includes(v), 'a value in a log');
});
