/** The HTTP API end to end against a real embedded server with the runc backend. */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { PHASES } from '../src/core/phases.js';
import { makeBusyboxRootfs } from './helpers/busybox-rootfs.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { fnDir, tarOf } from './helpers/tarball.js';

let s: TestServer;

async function deploy(files: Record<string, string>): Promise<Response> {
  return fetch(`${s.url}/v1/functions`, {
    method: 'POST',
    headers: { 'content-type': 'application/gzip' },
    body: new Uint8Array(await tarOf(fnDir(files))),
  });
}

async function invoke(name: string, body: string | Buffer = ''): Promise<Response> {
  return fetch(`${s.url}/v1/functions/${name}/invoke`, {
    method: 'POST',
    headers: { 'content-type': 'application/octet-stream' },
    body: typeof body === 'string' ? body : new Uint8Array(body),
  });
}

const manifest = (name: string, command: string, extra = '') =>
  `name: ${name}\nruntime: host\ncommand: ${JSON.stringify(command)}\n${extra}`;

describe('api', () => {
  before(async () => {
    s = await startTestServer({ maxPayloadBytes: 64 * 1024 });
  });
  after(async () => {
    await s?.close();
  });

  test('deploy makes immutable versions; ls, versions and rm work', async () => {
    const r1 = await deploy({ 'agni.yaml': manifest('greet', 'cat /fn/msg'), msg: 'v1' });
    assert.equal(r1.status, 201);
    assert.deepEqual(await r1.json(), { name: 'greet', version: 1, runtime: 'host' });
    const r2 = await deploy({ 'agni.yaml': manifest('greet', 'cat /fn/msg'), msg: 'v2' });
    assert.equal(((await r2.json()) as { version: number }).version, 2);
    assert.equal(await (await invoke('greet')).text(), 'v2');
    const versions = (await (await fetch(`${s.url}/v1/functions/greet/versions`)).json()) as {
      versions: { version: number; codeDir: string }[];
    };
    assert.deepEqual(
      versions.versions.map((v) => v.version),
      [2, 1],
    );
    // v1's files are untouched by the v2 deploy
    assert.equal(readFileSync(join(versions.versions[1]!.codeDir, 'msg'), 'utf8'), 'v1');
    const list = (await (await fetch(`${s.url}/v1/functions`)).json()) as {
      functions: { function: string }[];
    };
    assert.ok(list.functions.some((f) => f.function === 'greet'));
    assert.equal((await fetch(`${s.url}/v1/functions/greet`, { method: 'DELETE' })).status, 200);
    assert.equal((await invoke('greet')).status, 404);
    assert.deepEqual(
      readdirSync(join(s.home, 'functions')).filter((d) => d !== '.staging'),
      [],
    );
  });

  test('a bad manifest is refused naming the file, the field and what was expected', async () => {
    const r = await deploy({
      'agni.yaml': 'name: ok\nruntime: host\ncommand: echo\nlimits:\n  memory: lots\n',
    });
    assert.equal(r.status, 400);
    const e = ((await r.json()) as { error: { code: string; message: string } }).error;
    assert.equal(e.code, 'manifest_invalid');
    assert.match(e.message, /agni\.yaml: field `limits\.memory`: expected a size/);
    const r2 = await deploy({ 'agni.yaml': 'name: ok\nruntime: nosuchimage\ncommand: echo\n' });
    assert.equal(r2.status, 404);
    assert.match(((await r2.json()) as { error: { message: string } }).error.message, /runtime.*nosuchimage/);
    const r3 = await deploy({ README: 'no manifest here' });
    assert.equal(r3.status, 400);
    assert.match(
      ((await r3.json()) as { error: { message: string } }).error.message,
      /agni\.yaml: not found/,
    );
    // `command` may come from an OCI image's config, but a host function has none to fall back on.
    const r4 = await deploy({ 'agni.yaml': 'name: nocmd\nruntime: host\n' });
    assert.equal(r4.status, 400);
    assert.match(((await r4.json()) as { error: { message: string } }).error.message, /command/);
    const ls = (await (await fetch(`${s.url}/v1/functions`)).json()) as { functions: { name: string }[] };
    assert.ok(!ls.functions.some((f) => f.name === 'nocmd'), 'nothing was recorded');
  });

  test('invoke streams stdout, passes the environment and records every phase', async () => {
    await deploy({
      'agni.yaml': manifest(
        'envy',
        'cat; echo; echo $AGNI_FUNCTION $GREETING; echo id=$AGNI_INVOCATION_ID; echo dl=$AGNI_DEADLINE_MS; echo oops >&2',
        'env:\n  GREETING: hi\n',
      ),
    });
    const r = await invoke('envy', 'payload');
    assert.equal(r.status, 200);
    const id = r.headers.get('agni-invocation-id')!;
    const text = await r.text();
    assert.match(text, /^payload\nenvy hi\n/);
    assert.ok(text.includes(`id=${id}`));
    const deadline = Number(/dl=(\d+)/.exec(text)?.[1]);
    assert.ok(deadline > Date.now() && deadline < Date.now() + 31_000, `deadline ${deadline}`);
    const rec = (await (await fetch(`${s.url}/v1/invocations/${id}`)).json()) as Record<string, unknown> & {
      phases: Record<string, number>;
    };
    assert.equal(rec.status, 'succeeded');
    assert.equal(rec.stderrTail, 'oops\n');
    assert.equal(rec.payloadBytes, 7);
    assert.equal(rec.backend, 'runc');
    let prev = 0;
    // `dispatched` is the crossing to a remote node: cluster mode only (test/cluster-roles.test.ts).
    assert.equal(rec.phases.dispatched, undefined);
    for (const p of PHASES.filter((x) => x !== 'dispatched')) {
      assert.ok(rec.phases[p]! >= prev, `phase ${p} is stamped and in order`);
      prev = rec.phases[p]!;
    }
  });

  test('output arrives before the function ends (streaming)', async () => {
    await deploy({ 'agni.yaml': manifest('slowpoke', 'echo first; sleep 2; echo second') });
    const t0 = Date.now();
    const r = await invoke('slowpoke');
    const reader = r.body!.getReader();
    const first = await reader.read();
    const firstAt = Date.now() - t0;
    assert.equal(Buffer.from(first.value!).toString(), 'first\n');
    assert.ok(firstAt < 1500, `first chunk after ${firstAt} ms, before the 2 s sleep ended`);
    let rest = '';
    for (let c = await reader.read(); !c.done; c = await reader.read())
      rest += Buffer.from(c.value).toString();
    assert.equal(rest, 'second\n');
  });

  test('each failure has its own status and a JSON error naming the cause', async () => {
    await deploy({ 'agni.yaml': manifest('exit3', 'echo bad >&2; exit 3') });
    await deploy({ 'agni.yaml': manifest('napper', 'sleep 30', 'limits:\n  timeout: 500ms\n') });
    await deploy({
      'agni.yaml': manifest(
        'hog',
        'python3 -c "b = bytearray(400 * 1024 * 1024); print(len(b))"',
        'limits:\n  memory: 32Mi\n',
      ),
    });
    const cases: [string, string | Buffer, number, string][] = [
      ['exit3', '', 502, 'function_failed'],
      ['napper', '', 504, 'timeout'],
      ['hog', '', 507, 'out_of_memory'],
      ['missing', '', 404, 'function_not_found'],
      ['exit3', Buffer.alloc(65 * 1024), 413, 'payload_too_large'],
    ];
    for (const [name, body, status, code] of cases) {
      const r = await invoke(name, body);
      const j = (await r.json()) as { error: { code: string; message: string } };
      assert.equal(r.status, status, `${name}: ${JSON.stringify(j)}`);
      assert.equal(j.error.code, code);
    }
    const failed = (await (await fetch(`${s.url}/v1/functions/exit3/invocations?limit=5`)).json()) as {
      invocations: { status: string; exitCode: number; stderrTail: string }[];
    };
    assert.equal(failed.invocations[0]!.status, 'failed');
    assert.equal(failed.invocations[0]!.exitCode, 3);
    assert.equal(failed.invocations[0]!.stderrTail, 'bad\n');
  });

  test('a failure after output started is reported in the trailers', async () => {
    await deploy({ 'agni.yaml': manifest('halfway', 'echo partial; exit 7') });
    const http = await import('node:http');
    const { statusCode, body, trailers } = await new Promise<{
      statusCode: number;
      body: string;
      trailers: NodeJS.Dict<string>;
    }>((resolve, reject) => {
      const req = http.request(`${s.url}/v1/functions/halfway/invoke`, { method: 'POST' }, (res) => {
        let b = '';
        res.on('data', (c) => {
          b += c;
        });
        res.on('end', () => resolve({ statusCode: res.statusCode!, body: b, trailers: res.trailers }));
      });
      req.on('error', reject);
      req.end();
    });
    assert.equal(statusCode, 200);
    assert.equal(body, 'partial\n');
    assert.equal(trailers['agni-status'], 'failed');
    assert.equal(trailers['agni-exit-code'], '7');
  });

  test('a function on an imported image runs in that root filesystem', async () => {
    const rootfs = makeBusyboxRootfs(join(s.home, 'bb-src'));
    const { tarOf: tar } = await import('./helpers/tarball.js');
    const up = await fetch(`${s.url}/v1/images/busybox`, {
      method: 'POST',
      headers: { 'content-type': 'application/gzip' },
      body: new Uint8Array(await tar(rootfs)),
    });
    assert.equal(up.status, 201);
    await deploy({
      'agni.yaml':
        'name: bb\nruntime: busybox\ncommand: ["/bin/sh", "-c", "ls /bin | grep -c . ; test -e /usr/bin/python3 || echo no-python"]\n',
    });
    const r = await invoke('bb');
    assert.equal(r.status, 200);
    const [count, marker] = (await r.text()).trim().split('\n');
    assert.ok(Number(count) > 100, 'busybox applets are there');
    assert.equal(marker, 'no-python', 'the host /usr is not');
    const rm = await fetch(`${s.url}/v1/images/busybox`, { method: 'DELETE' });
    assert.equal(rm.status, 409, 'an image in use cannot be removed');
  });

  test('concurrent invocations all complete with their own output', async () => {
    await deploy({ 'agni.yaml': manifest('echoer', 'cat', 'concurrency: 3\n') });
    const outs = await Promise.all(
      Array.from({ length: 8 }, (_, i) => invoke('echoer', `n${i}`).then((r) => r.text())),
    );
    assert.deepEqual(
      outs,
      Array.from({ length: 8 }, (_, i) => `n${i}`),
    );
  });
});

describe('api with a token', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ token: 'sekret-token' });
  });
  after(async () => {
    await t?.close();
  });

  test('refuses calls without the token, accepts them with it', async () => {
    const no = await fetch(`${t.url}/v1/functions`);
    assert.equal(no.status, 401);
    assert.equal(((await no.json()) as { error: { code: string } }).error.code, 'unauthorized');
    const wrong = await fetch(`${t.url}/v1/functions`, { headers: { authorization: 'Bearer nope' } });
    assert.equal(wrong.status, 401);
    const ok = await fetch(`${t.url}/v1/functions`, { headers: { authorization: 'Bearer sekret-token' } });
    assert.equal(ok.status, 200);
    assert.equal((await fetch(`${t.url}/healthz`)).status, 200);
  });
});
