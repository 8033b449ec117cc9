/**
 * The observability routes of a real server: /openapi.json checked by an OpenAPI validator and
 * held to docs/api.md, the invocation event stream (auth, cross-site refusal, filtering, no
 * leaked listeners) and `agni logs -f` following it.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import { INDEX_BEGIN, INDEX_END, routeIndexMarkdown, withRouteIndex } from '../src/api/openapi-markdown.js';
import { ROUTE_DOCS } from '../src/api/route-docs.js';
import type { InvocationEvent } from '../src/core/invocation-events.js';
import { CLI } from './helpers/agni-up.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { fnDir, tarOf } from './helpers/tarball.js';

const TOKEN = 'obs-token-1234567890';
const auth = { authorization: `Bearer ${TOKEN}` };
let s: TestServer;

const manifest = (name: string, command: string) =>
  `name: ${name}\nruntime: host\ncommand: ${JSON.stringify(command)}\n`;

async function deploy(name: string, command: string): Promise<void> {
  const r = await fetch(`${s.url}/v1/functions`, {
    method: 'POST',
    headers: { ...auth, 'content-type': 'application/gzip' },
    body: new Uint8Array(await tarOf(fnDir({ 'agni.yaml': manifest(name, command) }))),
  });
  assert.equal(r.status, 201, await r.text());
}

async function invoke(name: string): Promise<string> {
  const r = await fetch(`${s.url}/v1/functions/${name}/invoke`, { method: 'POST', headers: auth, body: 'x' });
  const body = await r.text();
  assert.equal(r.status, 200, body);
  const id = r.headers.get('agni-invocation-id');
  assert.ok(id, 'the answer names the invocation');
  return id;
}

/** polls `cond` until true (generous: the machine is shared) */
async function until(cond: () => boolean, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Stream {
  events: InvocationEvent[];
  status: number;
  req: http.ClientRequest;
  res: http.IncomingMessage;
}

/** an open event stream, read as it arrives */
function openStream(query = '', headers: Record<string, string> = auth): Promise<Stream> {
  return new Promise((resolve, reject) => {
    const req = http.get(`${s.url}/v1/invocations/stream${query}`, { headers }, (res) => {
      const st: Stream = { events: [], status: res.statusCode ?? 0, req, res };
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        buf += c;
        for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
          const frame = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = frame.split('\n').find((l) => l.startsWith('data: '));
          if (data) st.events.push(JSON.parse(data.slice(6)) as InvocationEvent);
        }
      });
      res.on('error', () => {});
      resolve(st);
    });
    req.on('error', reject);
  });
}

describe('observability routes', () => {
  before(async () => {
    s = await startTestServer({ backend: 'process', token: TOKEN });
    await deploy('obs-a', 'cat');
    await deploy('obs-b', 'echo b');
  });
  after(async () => {
    await s?.close();
  });

  test('/openapi.json needs the token and is a valid OpenAPI document', async () => {
    assert.equal((await fetch(`${s.url}/openapi.json`)).status, 401);
    const r = await fetch(`${s.url}/openapi.json`, { headers: auth });
    assert.equal(r.status, 200);
    const doc = await r.json();
    const res = await new Validator().validate(doc);
    assert.ok(res.valid, JSON.stringify(res.errors, null, 2));
    assert.equal((doc as { openapi: string }).openapi, '3.1.0');
  });

  test('every route of the server is documented, and every documented route exists', async () => {
    const doc = (await (await fetch(`${s.url}/openapi.json`, { headers: auth })).json()) as {
      paths: Record<string, Record<string, { 'x-undocumented'?: boolean; requestBody?: unknown }>>;
    };
    const ops = Object.entries(doc.paths).flatMap(([p, o]) =>
      Object.entries(o).map(([m, op]) => ({ p, m, op })),
    );
    const undocumented = ops.filter((o) => o.op['x-undocumented']).map((o) => `${o.m.toUpperCase()} ${o.p}`);
    assert.deepEqual(undocumented, [], 'add these to src/api/route-docs.ts');
    assert.equal(ops.length, Object.keys(ROUTE_DOCS).length, 'route-docs.ts lists a route the server lacks');
    const ids = ops.map((o) => (o.op as { operationId?: string }).operationId);
    assert.equal(new Set(ids).size, ids.length, 'operationIds are unique');
    // the zod schemas the routes validate with made it in
    const rollback = doc.paths['/v1/functions/{name}/rollback']!.post!.requestBody as {
      content: Record<string, { schema: { properties: Record<string, unknown> } }>;
    };
    assert.ok(rollback.content['application/json']!.schema.properties.to);
  });

  test("docs/api.md's route index is the server's (npm run docs:api)", async () => {
    const doc = await (await fetch(`${s.url}/openapi.json`, { headers: auth })).json();
    const md = readFileSync('docs/api.md', 'utf8');
    const index = routeIndexMarkdown(doc);
    assert.ok(md.includes(INDEX_BEGIN), 'docs/api.md has a generated route index');
    const have = md.slice(md.indexOf(INDEX_BEGIN), md.indexOf(INDEX_END) + INDEX_END.length);
    assert.equal(have, index, 'docs/api.md is out of date: run `npm run docs:api`');
    assert.equal(withRouteIndex(md, index), md);
    for (const key of Object.keys(ROUTE_DOCS)) {
      const [method, url] = key.split(' ');
      const path = url!.replace(/:([A-Za-z0-9_]+)/g, '{$1}').replace(/\*$/, '{path}');
      assert.ok(md.includes(`\`${method} ${path}\``), `docs/api.md lists ${key}`);
    }
  });

  test('/metrics needs the token', async () => {
    assert.equal((await fetch(`${s.url}/metrics`)).status, 401);
    const r = await fetch(`${s.url}/metrics`, { headers: auth });
    assert.equal(r.status, 200);
    assert.match(r.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
  });

  test('the event stream needs the token and is refused cross-site', async () => {
    const none = await openStream('', {});
    assert.equal(none.status, 401);
    none.res.resume();
    const foreign = await openStream('', { ...auth, origin: 'http://evil.example' });
    assert.equal(foreign.status, 403);
    foreign.res.resume();
    const marked = await openStream('', { ...auth, 'sec-fetch-site': 'cross-site' });
    assert.equal(marked.status, 403);
    marked.res.resume();
    const bad = await openStream('?function=', auth);
    assert.equal(bad.status, 400);
    bad.res.resume();
  });

  test('a stream of one function sees its received, placed and finished events only', async () => {
    const base = s.events.size;
    const st = await openStream('?function=obs-a');
    assert.equal(st.status, 200);
    assert.match(String(st.res.headers['content-type']), /^text\/event-stream/);
    await until(() => s.events.size === base + 1, 'the stream to subscribe');
    await invoke('obs-b');
    const id = await invoke('obs-a');
    await until(() => st.events.some((e) => e.id === id && e.type === 'finished'), 'the finished event');
    assert.deepEqual(
      st.events.map((e) => e.type),
      ['received', 'placed', 'finished'],
    );
    assert.ok(st.events.every((e) => e.function === 'obs-a' && e.id === id));
    const fin = st.events[2]!;
    assert.equal(fin.status, 'succeeded');
    assert.equal(fin.mode, 'cold');
    assert.ok(fin.node.length > 0, 'the node it ran on');
    assert.ok((fin.durationMs ?? -1) >= 0);
    st.req.destroy();
    await until(() => s.events.size === base, 'the stream to unsubscribe');
  });

  test('clients that go away leave no listener behind', async () => {
    const base = s.events.size;
    const streams = await Promise.all(Array.from({ length: 20 }, () => openStream()));
    await until(() => s.events.size === base + 20, 'twenty subscriptions');
    // half hang up cleanly, half are cut mid-stream
    for (const [i, st] of streams.entries()) {
      if (i % 2 === 0) st.res.destroy();
      else st.req.socket?.destroy();
    }
    await until(() => s.events.size === base, 'every subscription to end');
    // events still flow to a new reader afterwards
    const st = await openStream('?function=obs-a');
    await until(() => s.events.size === base + 1, 'a new subscription');
    const id = await invoke('obs-a');
    await until(() => st.events.some((e) => e.id === id && e.type === 'finished'), 'its finished event');
    st.req.destroy();
    await until(() => s.events.size === base, 'the last subscription to end');
  });

  test('agni logs -f NAME prints each new invocation event until interrupted', async () => {
    const base = s.events.size;
    const cli: ChildProcess = spawn('node', [CLI, 'logs', '-f', 'obs-a', '--json'], {
      env: { ...process.env, AGNI_URL: s.url, AGNI_TOKEN: TOKEN },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    cli.stdout!.on('data', (c) => {
      out += c;
    });
    cli.stderr!.on('data', (c) => {
      err += c;
    });
    const exited = new Promise<number | null>((r) => cli.on('exit', (code) => r(code)));
    try {
      await until(() => s.events.size === base + 1, 'the CLI to subscribe');
      await invoke('obs-b');
      const id = await invoke('obs-a');
      await until(() => out.includes('"finished"'), `the CLI to print the finished event (stderr: ${err})`);
      const lines = out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as InvocationEvent);
      assert.deepEqual(
        lines.map((e) => [e.type, e.id, e.function]),
        [
          ['received', id, 'obs-a'],
          ['placed', id, 'obs-a'],
          ['finished', id, 'obs-a'],
        ],
      );
    } finally {
      cli.kill('SIGINT');
    }
    assert.equal(await exited, 0, err);
    assert.equal(err, '');
    await until(() => s.events.size === base, 'the CLI stream to unsubscribe');
  });

  test('agni logs -f without a token says what to set, without a stack trace', async () => {
    const cli = spawn('node', [CLI, 'logs', '-f'], {
      env: { ...process.env, AGNI_URL: s.url, AGNI_TOKEN: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    cli.stderr!.on('data', (c) => {
      err += c;
    });
    const code = await new Promise<number | null>((r) => cli.on('exit', (c) => r(c)));
    assert.notEqual(code, 0);
    assert.match(err, /requires a token/);
    assert.doesNotMatch(err, /\n\s+at /);
  });
});

describe('an open event stream at shutdown', () => {
  test('ends with the server instead of holding its close for the grace period', async () => {
    const server = await startTestServer({ backend: 'process' });
    s = server;
    const st = await openStream('', {});
    assert.equal(st.status, 200);
    const ended = new Promise<void>((r) => st.res.on('close', () => r()));
    const report = await server.close();
    await ended;
    assert.deepEqual(report.cut, [], 'no connection had to be cut');
  });
});
