/** Durable async invocations against a real server, runc sandboxes and SQLite. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { promisify } from 'node:util';
import { CLI } from './helpers/agni-up.js';
import { deployFiles } from './helpers/deploy.js';
import { startTestServer, type TestServer } from './helpers/server.js';

const run = promisify(execFile);
let s: TestServer;

before(async () => {
  // The callback receivers below listen on loopback, which only the operator can allow.
  s = await startTestServer({ slots: 2, callbackAllow: ['127.0.0.1'] });
});
after(async () => {
  await s?.close();
});

const deploy = (manifest: string) => deployFiles(s.url, { 'agni.yaml': manifest });

async function submit(fn: string, body: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${s.url}/v1/functions/${fn}/async`, { method: 'POST', body, headers });
  return {
    status: res.status,
    json: (await res.json()) as { id: string; duplicate: boolean; error?: { message: string } },
  };
}

async function result(id: string, wait = 20) {
  const res = await fetch(`${s.url}/v1/invocations/${id}/result?wait=${wait}`);
  return { status: res.status, headers: res.headers, text: await res.text() };
}

/** a loopback HTTP server answering each request with the next entry of `codes` (then 200) */
async function recorder(
  codes: number[] = [],
): Promise<{ server: Server; url: string; bodies: string[]; hits: () => number }> {
  const bodies: string[] = [];
  let n = 0;
  const server = createServer(async (req: IncomingMessage, res) => {
    let body = '';
    for await (const c of req) body += c;
    bodies.push(body);
    const code = codes[n++] ?? 200;
    res.writeHead(code).end(String(n));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  return {
    server,
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
    bodies,
    hits: () => n,
  };
}

test('an async invocation answers 202 at once and its result is fetched later', async () => {
  await deploy('name: slowecho\nruntime: host\ncommand: "sleep 0.5; tr a-z A-Z"\n');
  const t0 = Date.now();
  const sub = await submit('slowecho', 'hello async');
  assert.equal(sub.status, 202);
  assert.ok(Date.now() - t0 < 400, 'the answer does not wait for the run');
  assert.match(sub.json.id, /^inv-/);
  const r = await result(sub.json.id);
  assert.equal(r.status, 200);
  assert.equal(r.text, 'HELLO ASYNC');
  assert.equal(r.headers.get('agni-status'), 'succeeded');
  assert.equal(r.headers.get('agni-attempts'), '1');
});

test('a small output is kept in the store and a large one in a file, each read back whole', async () => {
  await deploy(
    'name: sized\nruntime: host\ncommand: ["python3", "-c", "import sys; n=int(sys.stdin.read()); sys.stdout.buffer.write(bytes(i % 251 for i in range(n)))"]\n',
  );
  for (const n of [0, 5, 16 * 1024, 16 * 1024 + 1, 300_000]) {
    const sub = await submit('sized', String(n));
    const r = await fetch(`${s.url}/v1/invocations/${sub.json.id}/result?wait=20`);
    assert.equal(r.headers.get('agni-status'), 'succeeded');
    const body = Buffer.from(await r.arrayBuffer());
    assert.deepEqual(body, Buffer.from(Array.from({ length: n }, (_, i) => i % 251)), `${n} bytes`);
    const file = existsSync(join(s.home, 'async', 'results', `${sub.json.id}.out`));
    assert.equal(file, n > 16 * 1024, `${n} bytes: ${file ? 'a file' : 'no file'}`);
  }
});

test('a result that is not ready answers 202 with the state, and unknown ids 404', async () => {
  await deploy('name: napper\nruntime: host\ncommand: "sleep 2"\n');
  const sub = await submit('napper', '');
  const r = await result(sub.json.id, 0);
  assert.equal(r.status, 202);
  const body = JSON.parse(r.text) as { status: string; max_attempts: number };
  assert.ok(['queued', 'running'].includes(body.status));
  assert.equal(body.max_attempts, 1);
  assert.equal((await result('inv-nope', 0)).status, 404);
  assert.equal((await submit('no-such-fn', '')).status, 404);
  const bad = await submit('napper', '', { 'agni-callback-url': 'ftp://x' });
  assert.equal(bad.status, 400);
  assert.match(bad.json.error!.message, /agni-callback-url/);
});

test('an idempotency key makes a resubmission return the first invocation, which runs once', async () => {
  await deploy('name: once\nruntime: host\ncommand: "cat"\n');
  const a = await submit('once', 'first', { 'idempotency-key': 'k-1' });
  const b = await submit('once', 'second', { 'idempotency-key': 'k-1' });
  assert.equal(a.json.id, b.json.id);
  assert.equal(a.json.duplicate, false);
  assert.equal(b.json.duplicate, true);
  assert.equal((await result(a.json.id)).text, 'first');
  const list = (await (await fetch(`${s.url}/v1/functions/once/invocations`)).json()) as {
    invocations: unknown[];
  };
  assert.equal(list.invocations.length, 1);
});

test('failures are retried with backoff, then dead-lettered, listed and retried on demand', async () => {
  await deploy(
    'name: doomed\nruntime: host\ncommand: "echo nope >&2; exit 3"\nretries: 2\nbackoff: {initial: 300ms, factor: 2}\n',
  );
  const t0 = Date.now();
  const sub = await submit('doomed', '');
  const r = await result(sub.json.id);
  const took = Date.now() - t0;
  assert.equal(r.status, 200);
  assert.equal(r.headers.get('agni-status'), 'failed');
  assert.equal(r.headers.get('agni-exit-code'), '3');
  assert.equal(r.headers.get('agni-attempts'), '3');
  assert.equal(r.headers.get('agni-dead-letter'), 'true');
  assert.ok(took >= 900, `two backoffs of 300 and 600 ms were waited (took ${took} ms)`);
  const failed = (await (await fetch(`${s.url}/v1/failed?function=doomed`)).json()) as {
    failed: { id: string; attempts: number; stderrTail: string; error: string }[];
  };
  assert.equal(failed.failed.length, 1);
  assert.equal(failed.failed[0]!.id, sub.json.id);
  assert.match(failed.failed[0]!.stderrTail, /nope/);
  // The entry tells of its last attempt, not of the one before ("next attempt in ...").
  assert.match(
    failed.failed[0]!.error,
    /^attempt 3 of 3, the last, ended failed \(exit 3\); no attempts left/,
  );
  assert.doesNotMatch(decodeURIComponent(r.headers.get('agni-error') ?? ''), /next attempt/);

  const again = await fetch(`${s.url}/v1/failed/${sub.json.id}/retry`, { method: 'POST' });
  assert.equal(again.status, 202);
  const r2 = await result(sub.json.id);
  assert.equal(r2.headers.get('agni-attempts'), '3', 'a fresh set of attempts ran');
  // Only dead-lettered invocations can be revived.
  const ok = await submit('once', 'x');
  await result(ok.json.id);
  assert.equal((await fetch(`${s.url}/v1/failed/${ok.json.id}/retry`, { method: 'POST' })).status, 409);
});

test('a function that fails twice then succeeds is retried until it succeeds', async () => {
  const counter = await recorder();
  try {
    // network: host lets the sandbox reach the test's counter; it fails until the third call.
    await deploy(
      `name: flaky\nruntime: host\nnetwork: host\nretries: 3\nbackoff: {initial: 100ms}\ncommand: [python3, -c, "import urllib.request,sys; n=int(urllib.request.urlopen('${counter.url}').read()); print('call', n); sys.exit(0 if n >= 3 else 1)"]\n`,
    );
    const sub = await submit('flaky', '');
    const r = await result(sub.json.id);
    assert.equal(r.headers.get('agni-status'), 'succeeded');
    assert.equal(r.headers.get('agni-attempts'), '3');
    assert.equal(r.text.trim(), 'call 3', 'the output is the successful attempt’s alone');
  } finally {
    counter.server.close();
  }
});

test('a callback URL gets the result, retried with backoff until it answers 2xx', async () => {
  const hook = await recorder([500]);
  try {
    const sub = await submit('once', 'for the callback', { 'agni-callback-url': hook.url });
    await result(sub.json.id);
    const deadline = Date.now() + 10_000;
    while (hook.hits() < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    assert.equal(hook.hits(), 2, 'one failed delivery, then one that succeeded');
    const body = JSON.parse(hook.bodies[1]!) as { id: string; status: string; output: string };
    assert.equal(body.id, sub.json.id);
    assert.equal(body.status, 'succeeded');
    assert.equal(body.output, 'for the callback');
    const state = (await (await fetch(`${s.url}/v1/invocations/${sub.json.id}/async`)).json()) as {
      callbackState: string;
      callbackAttempts: number;
    };
    assert.equal(state.callbackState, 'delivered');
    assert.equal(state.callbackAttempts, 2);
  } finally {
    hook.server.close();
  }
});

test('callbacks to internal addresses are refused: literal ones at submit, names that resolve to one at delivery', async () => {
  const strict = await startTestServer({ slots: 1 });
  const hook = await recorder();
  try {
    await deployFiles(strict.url, { 'agni.yaml': 'name: quick\nruntime: host\ncommand: cat\n' });
    const port = new URL(hook.url).port;
    const send = (callback: string) =>
      fetch(`${strict.url}/v1/functions/quick/async`, {
        method: 'POST',
        body: 'x',
        headers: { 'agni-callback-url': callback },
      });
    for (const host of [
      '127.0.0.1',
      '127.1',
      '2130706433',
      '0x7f000001',
      '0177.0.0.1',
      '[::1]',
      '[::ffff:127.0.0.1]',
      '169.254.169.254',
      '10.0.0.1',
    ]) {
      const r = await send(`http://${host}:${port}/`);
      const body = (await r.json()) as {
        error: { code: string; message: string; hint: string; details: { field: string } };
      };
      assert.equal(r.status, 400, host);
      assert.match(body.error.message, /agni-callback-url.*callback destination refused/, host);
      assert.equal(body.error.details.field, 'callback');
      assert.match(body.error.hint, /--callback-allow/);
    }
    // A name is judged by what it resolves to, when the callback is sent: refused, not retried.
    const sub = await send(`http://localhost:${port}/`);
    assert.equal(sub.status, 202);
    const { id } = (await sub.json()) as { id: string };
    let state: { callbackState: string; callbackAttempts: number; callbackError: string } | undefined;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      state = (await (await fetch(`${strict.url}/v1/invocations/${id}/async`)).json()) as typeof state;
      if (state!.callbackState === 'failed') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(state!.callbackState, 'failed');
    assert.equal(state!.callbackAttempts, 1, 'a refused destination is not retried');
    assert.match(state!.callbackError, /localhost resolves to .* loopback address/);
    assert.match(state!.callbackError, /--callback-allow/);
    assert.equal(hook.hits(), 0, 'nothing reached the receiver');
  } finally {
    hook.server.close();
    await strict.close();
  }
});

test('the CLI submits with --async, fetches with `agni result --wait` and lists `agni failed`', async () => {
  const env = { ...process.env, AGNI_URL: s.url };
  const sub = await run('node', [CLI, 'invoke', 'slowecho', '--async', '--data', 'via cli'], { env });
  const id = sub.stdout.trim();
  assert.match(id, /^inv-/);
  const r = await run('node', [CLI, 'result', id, '--wait'], { env });
  assert.equal(r.stdout, 'VIA CLI');
  const dead = await run('node', [CLI, 'invoke', 'doomed', '--async', '--data', ''], { env });
  const failed = await run('node', [CLI, 'result', dead.stdout.trim(), '--wait'], { env }).catch((e) => e);
  assert.equal(failed.code, 3, 'the function’s exit code passes through');
  assert.match(failed.stderr, /failed .*after 3 attempt.*the last, ended failed/);
  assert.match(failed.stderr, /^stderr:\n {2}nope$/m, 'the stderr tail is shown under the error');
  const list = await run('node', [CLI, 'failed', 'doomed', '--json'], { env });
  assert.ok((JSON.parse(list.stdout) as unknown[]).length >= 2);
  const notYet = await run('node', [CLI, 'invoke', 'napper', '--async', '--data', ''], { env });
  const pending = await run('node', [CLI, 'result', notYet.stdout.trim()], { env }).catch((e) => e);
  assert.equal(pending.code, 75);
  assert.match(pending.stderr, /has not finished/);
});
