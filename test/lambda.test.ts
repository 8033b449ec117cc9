/**
 * protocol: lambda end to end: real embedded server, runc backend, the examples' custom runtimes
 * (the AWS tutorial's shell bootstrap unchanged, a Python one), over HTTP.
 */
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { netnsPrefix, openLoopbackForward } from '../src/sandbox/loopback-forward.js';
import { RuncBackend } from '../src/sandbox/runc-backend.js';
import { arm64EmulationProblem, makeArm64BusyboxRootfs } from './helpers/arm64-busybox.js';
import { deployDir as deployTo } from './helpers/deploy.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { fnDir, tarOf } from './helpers/tarball.js';
import { tempDir } from './helpers/tmp.js';

let s: TestServer;
const examples = fileURLToPath(new URL('../../examples/', import.meta.url));
const CLI = fileURLToPath(new URL('../src/cli/main.js', import.meta.url));
const run = promisify(execFile);

const deployDir = (dir: string) => deployTo(s.url, dir);

/** examples/lambda-python under another name, agni.yaml lines replaced. */
function pythonVariant(name: string, extra: Record<string, string> = {}): string {
  const yaml = readFileSync(join(examples, 'lambda-python', 'agni.yaml'), 'utf8')
    .split('\n')
    .filter((l) => !l.startsWith('#'))
    .map((l) => {
      const key = l.split(':')[0]!.trim();
      if (l.startsWith('name:')) return `name: ${name}`;
      if (!l.startsWith(' ') && key in extra) return `${key}: ${extra[key]}`;
      if (l.startsWith('  timeout:') && 'timeout' in extra) return `  timeout: ${extra.timeout}`;
      if (l.startsWith('  memory:') && 'memory' in extra) return `  memory: ${extra.memory}`;
      return l;
    })
    .join('\n');
  const dir = fnDir({
    'agni.yaml': yaml,
    bootstrap: readFileSync(join(examples, 'lambda-python', 'bootstrap'), 'utf8'),
    'handler.py': readFileSync(join(examples, 'lambda-python', 'handler.py'), 'utf8'),
  });
  chmodSync(join(dir, 'bootstrap'), 0o755);
  return dir;
}

interface Called {
  status: number;
  text: string;
  id: string;
}

async function invoke(name: string, body: unknown = ''): Promise<Called> {
  const payload = typeof body === 'string' ? body : JSON.stringify(body);
  const r = await fetch(`${s.url}/v1/functions/${name}/invoke`, { method: 'POST', body: payload });
  return { status: r.status, text: await r.text(), id: r.headers.get('agni-invocation-id') ?? '' };
}

interface Rec {
  status: string;
  stdoutTail: string;
  stderrTail: string;
}

async function record(id: string): Promise<Rec> {
  const r = await fetch(`${s.url}/v1/invocations/${id}`);
  assert.equal(r.status, 200);
  return (await r.json()) as Rec;
}

/** The failed call's Lambda error document (its output). */
async function errorDoc(c: Called): Promise<{ errorType: string; errorMessage: string }> {
  const rec = await record(c.id);
  assert.equal(rec.status, 'failed', JSON.stringify(rec));
  return JSON.parse(rec.stdoutTail) as { errorType: string; errorMessage: string };
}

const socat = (): string[] =>
  execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.startsWith('socat') && l.includes(s.home));
const namespaces = (): string[] =>
  execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' })
    .split('\n')
    .filter((l) => l.startsWith(netnsPrefix(s.home)));

// A bootstrap that probes the Runtime API's refusals and reports what it got as its response.
const PROBE = `#!/bin/bash
API="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime"
code() { curl -s -o /tmp/body -w '%{http_code}' "$@"; }
PREV=nope
while true; do
  H=$(mktemp)
  EV=$(curl -sS -D "$H" "$API/invocation/next")
  ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id "$H" | tr -d '[:space:]' | cut -d: -f2)
  old=$(code -X POST -d x "$API/invocation/$PREV/response"); oldbody=$(cat /tmp/body)
  get=$(code "$API/invocation/$ID/response")
  missing=$(code "$API/nothing")
  late=$(code -X POST -d x "$API/init/error")
  hdr=$(grep -i '^lambda-runtime' "$H" | tr -d '\\r' | cut -d: -f1 | tr 'A-Z' 'a-z' | sort | tr '\\n' ,)
  ok=$(code -X POST -d "old=$old get=$get missing=$missing late=$late hdr=$hdr body=$oldbody" "$API/invocation/$ID/response")
  PREV=$ID
done
`;

describe('protocol: lambda', () => {
  before(async () => {
    s = await startTestServer({ slots: 4 });
    await deployDir(join(examples, 'lambda-shell'));
    await deployDir(join(examples, 'lambda-python'));
  });
  after(async () => {
    await s?.close();
  });

  test('the AWS tutorial shell bootstrap, unchanged, serves events; stderr is each call’s log', async () => {
    const a = await invoke('lambda-shell', '{"n":1}');
    assert.equal(a.status, 200, a.text);
    assert.equal(a.text, `Echoing request: '{"n":1}'`);
    const b = await invoke('lambda-shell', '{"n":2}');
    assert.equal(b.text, `Echoing request: '{"n":2}'`);
    const [ra, rb] = [await record(a.id), await record(b.id)];
    assert.match(ra.stderrTail, /\{"n":1\}/);
    assert.doesNotMatch(ra.stderrTail, /"n":2/);
    assert.match(rb.stderrTail, /\{"n":2\}/);
  });

  test('one sandbox serves many events; context is Lambda’s', async () => {
    const outs: Record<string, unknown>[] = [];
    for (let i = 0; i < 4; i++) {
      const c = await invoke('lambda-python', { name: `n${i}` });
      assert.equal(c.status, 200, c.text);
      outs.push({ ...(JSON.parse(c.text) as Record<string, unknown>), id: c.id });
    }
    assert.equal(new Set(outs.map((o) => o.pid)).size, 1, 'one worker');
    assert.deepEqual(
      outs.map((o) => o.calls),
      [1, 2, 3, 4],
    );
    for (const o of outs) {
      assert.equal(o.request_id, o.id);
      assert.equal(o.function_name, 'lambda-python');
      assert.equal(o.memory_limit_in_mb, 128);
      assert.ok((o.remaining_ms as number) > 0 && (o.remaining_ms as number) <= 10_000);
    }
    const logs = await record(outs[1]!.id as string);
    assert.match(logs.stderrTail, new RegExp(`request ${outs[1]!.id} call 2`));
    assert.doesNotMatch(logs.stderrTail, /call 3/);
  });

  test('an error document fails the call with it as the output', async () => {
    const c = await invoke('lambda-python', { fail: 'no such thing' });
    assert.equal(c.status, 502, c.text);
    const doc = await errorDoc(c);
    assert.equal(doc.errorType, 'ValueError');
    assert.equal(doc.errorMessage, 'no such thing');
    const next = await invoke('lambda-python', { name: 'after' });
    assert.equal(next.status, 200, 'the worker keeps serving');
  });

  test('a crash fails its call with Runtime.ExitError and the worker is replaced', async () => {
    const before = JSON.parse((await invoke('lambda-python', {})).text) as { pid: number; started: number };
    const c = await invoke('lambda-python', { crash: true });
    assert.equal(c.status, 502, c.text);
    const doc = await errorDoc(c);
    assert.equal(doc.errorType, 'Runtime.ExitError');
    assert.match(doc.errorMessage, /exit status 3/);
    const after = JSON.parse((await invoke('lambda-python', {})).text) as { started: number; calls: number };
    assert.notEqual(after.started, before.started);
    assert.equal(after.calls, 1);
  });

  test('init/error fails the call with the runtime’s document; every call tries again', async () => {
    await deployDir(pythonVariant('lambda-noinit', { handler: 'missing.handler' }));
    for (let i = 0; i < 2; i++) {
      const c = await invoke('lambda-noinit', {});
      assert.equal(c.status, 502, c.text);
      const doc = await errorDoc(c);
      assert.equal(doc.errorType, 'Runtime.ImportModuleError');
      assert.match(doc.errorMessage, /missing/);
    }
  });

  test('past Lambda-Runtime-Deadline-Ms the sandbox is killed (504) and the next call gets a new one', async () => {
    await deployDir(pythonVariant('lambda-slow', { timeout: '1500ms' }));
    const first = JSON.parse((await invoke('lambda-slow', {})).text) as { started: number };
    const c = await invoke('lambda-slow', { sleep: 5 });
    assert.equal(c.status, 504, c.text);
    assert.equal((await record(c.id)).status, 'timeout');
    const next = JSON.parse((await invoke('lambda-slow', {})).text) as { started: number };
    assert.notEqual(next.started, first.started);
  });

  test('past its memory limit the worker is killed (507) and replaced', async () => {
    await deployDir(pythonVariant('lambda-small', { memory: '48Mi' }));
    const c = await invoke('lambda-small', { hog_mb: 200 });
    assert.equal(c.status, 507, c.text);
    assert.equal((await record(c.id)).status, 'oom');
    assert.equal((await invoke('lambda-small', { name: 'again' })).status, 200);
  });

  test('the ordinary paths reach it: agni invoke, and async with its result', async () => {
    const env = { ...process.env, AGNI_URL: s.url };
    const { stdout } = await run('node', [CLI, 'invoke', 'lambda-python', '--data', '{"name":"cli"}'], {
      env,
    });
    assert.equal((JSON.parse(stdout) as { hello: string }).hello, 'cli');
    await assert.rejects(
      run('node', [CLI, 'invoke', 'lambda-python', '--data', '{"fail":"from the cli"}'], { env }),
      (e: { stderr: string }) => /lambda-python failed: ValueError: from the cli/.test(e.stderr),
    );
    const sub = await fetch(`${s.url}/v1/functions/lambda-python/async`, {
      method: 'POST',
      body: '{"name":"later"}',
    });
    assert.equal(sub.status, 202);
    const { id } = (await sub.json()) as { id: string };
    const res = await fetch(`${s.url}/v1/invocations/${id}/result?wait=20`);
    assert.equal(res.status, 200);
    assert.equal((JSON.parse(await res.text()) as { hello: string }).hello, 'later');
  });

  test('a streamed response reaches the caller before its last chunk is made', async () => {
    const r = await fetch(`${s.url}/v1/functions/lambda-python/invoke`, {
      method: 'POST',
      body: JSON.stringify({ stream: 3, gap: 0.4 }),
    });
    assert.equal(r.status, 200);
    const reader = r.body!.getReader();
    let text = '';
    let firstAt = 0;
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      if (!firstAt) firstAt = Date.now();
      text += Buffer.from(value).toString();
    }
    const lines = text.trim().split('\n');
    assert.equal(lines.length, 3, text);
    const lastMadeAt = Number(/at (\d+)/.exec(lines[2]!)![1]);
    assert.ok(firstAt < lastMadeAt, `first chunk at ${firstAt}, last made at ${lastMadeAt}`);
  });

  test('the Runtime API answers as Lambda does: headers, unknown and old ids, wrong method, late init/error', async () => {
    const dir = fnDir({
      'agni.yaml':
        'name: lambda-probe\nruntime: host\nprotocol: lambda\ncommand: [/bin/bash, /fn/bootstrap]\n',
      bootstrap: PROBE,
    });
    chmodSync(join(dir, 'bootstrap'), 0o755);
    await deployDir(dir);
    const a = await invoke('lambda-probe', '{}');
    assert.equal(a.status, 200, a.text);
    assert.match(a.text, /^old=400 get=405 missing=404 late=403 /);
    assert.match(
      a.text,
      /hdr=lambda-runtime-aws-request-id,lambda-runtime-deadline-ms,lambda-runtime-invoked-function-arn,lambda-runtime-trace-id,/,
    );
    assert.match(a.text, /"errorType":"InvalidRequestID"/);
    const b = await invoke('lambda-probe', '{}');
    assert.match(b.text, /^old=403 /, 'an answered id is refused');
  });

  test('the Runtime API is reachable from its sandbox only: not the host’s loopback, not another sandbox', async () => {
    assert.equal((await invoke('lambda-python', {})).status, 200); // a worker is up
    const refused = await new Promise<string>((res) => {
      const c = connect(9001, '127.0.0.1');
      c.once('connect', () => {
        c.destroy();
        res('connected');
      });
      c.once('error', (e: NodeJS.ErrnoException) => res(e.code ?? 'error'));
    });
    assert.equal(refused, 'ECONNREFUSED');
    const cold = fnDir({
      'agni.yaml':
        'name: lambda-snoop\nruntime: host\ncommand: ["/bin/sh", "-c", "curl -sS -m 3 http://127.0.0.1:9001/2018-06-01/runtime/invocation/next; echo rc=$?"]\n',
    });
    await deployDir(cold);
    const c = await invoke('lambda-snoop');
    assert.match(c.text, /rc=7/, c.text); // curl: failed to connect
    const sockets = readdirSync(join(s.home, 'run', 'lambda'));
    assert.ok(sockets.length > 0);
    for (const f of sockets) assert.equal(statSync(join(s.home, 'run', 'lambda', f)).mode & 0o777, 0o600);
  });

  test('connections from inside cannot multiply forwarder processes on the host', async () => {
    // The bootstrap opens 40 connections to the Runtime API and holds them while it answers.
    const HOG = `#!/usr/bin/env python3
import http.client, os, socket
held = [socket.create_connection(("127.0.0.1", 9001)) for _ in range(40)]
host, port = os.environ["AWS_LAMBDA_RUNTIME_API"].rsplit(":", 1)
c = http.client.HTTPConnection(host, int(port))
while True:
    c.request("GET", "/2018-06-01/runtime/invocation/next")
    r = c.getresponse(); r.read()
    rid = r.headers["Lambda-Runtime-Aws-Request-Id"]
    c.request("POST", f"/2018-06-01/runtime/invocation/{rid}/response", body=str(len(held)))
    c.getresponse().read()
`;
    const dir = fnDir({
      'agni.yaml': 'name: lambda-hog\nruntime: host\nprotocol: lambda\nlimits: {timeout: 2s}\n',
      bootstrap: HOG,
    });
    chmodSync(join(dir, 'bootstrap'), 0o755);
    await deployDir(dir);
    const call = invoke('lambda-hog', '{}');
    let most = 0;
    for (let i = 0; i < 15; i++) {
      await new Promise((r) => setTimeout(r, 100));
      most = Math.max(most, socat().filter((l) => l.includes('lambda-hog-')).length);
    }
    assert.ok(most > 0, 'the worker was up');
    assert.ok(most <= 9, `${most} socat processes for one sandbox`);
    // Its own connections starve its runtime: the function's fault, ended by its deadline.
    assert.equal((await call).status, 504);
  });

  test('a new version stops the old one’s sandboxes with their namespaces and forwarders', async () => {
    assert.equal((await invoke('lambda-python', {})).status, 200);
    const old = (l: string) => /lambda-python-v1-w/.test(l);
    assert.ok(namespaces().some(old) && socat().some(old));
    await deployDir(join(examples, 'lambda-python'));
    assert.equal((await invoke('lambda-python', {})).status, 200);
    assert.deepEqual(namespaces().filter(old), []);
    assert.deepEqual(socat().filter(old), []);
  });

  test('an arm64 image under qemu: the forward is the host’s, the runtime the image’s', async () => {
    const problem = arm64EmulationProblem();
    assert.equal(problem, undefined, `arm64 emulation: ${problem}; run scripts/setup.sh as root`);
    const root = makeArm64BusyboxRootfs(join(tempDir('agni-arm64-'), 'rootfs'));
    const up = await fetch(`${s.url}/v1/images/bb-arm64`, {
      method: 'POST',
      headers: { 'content-type': 'application/gzip' },
      body: new Uint8Array(await tarOf(root)),
    });
    assert.equal(up.status, 201, await up.text());
    // busybox wget as the runtime's HTTP client: -S prints the event's headers on stderr.
    const dir = fnDir({
      'agni.yaml': 'name: lambda-arm\nruntime: bb-arm64\nprotocol: lambda\n',
      bootstrap: `#!/bin/sh
API="http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime"
while true; do
  wget -q -S -O /tmp/event "$API/invocation/next" 2>/tmp/headers
  ID=$(grep -i Lambda-Runtime-Aws-Request-Id /tmp/headers | tr -d '\\r ' | cut -d: -f2)
  wget -q -O /dev/null --post-data "$(uname -m) $(cat /tmp/event)" "$API/invocation/$ID/response"
done
`,
    });
    chmodSync(join(dir, 'bootstrap'), 0o755);
    await deployDir(dir);
    for (const n of [1, 2]) {
      const c = await invoke('lambda-arm', `event ${n}`);
      assert.equal(c.status, 200, c.text);
      assert.equal(c.text, `aarch64 event ${n}`);
    }
  });

  test('stop leaves nothing behind: no namespace, no forwarder, no socket', async () => {
    assert.equal((await invoke('lambda-python', {})).status, 200);
    assert.ok(namespaces().length > 0 && socat().length > 0, 'a worker is up with its forward');
    await s.close();
    assert.deepEqual(namespaces(), []);
    assert.deepEqual(socat(), []);
    const dir = join(s.home, 'run', 'lambda');
    assert.deepEqual(existsSync(dir) ? readdirSync(dir) : [], []);
  });
});

test('recover() removes a crashed run’s namespaces and forwarders, and only its own home’s', async () => {
  const home = tempDir('agni-test-');
  const other = tempDir('agni-test-');
  const sock = join(home, 'x.sock');
  writeFileSync(sock, '');
  const mine = await openLoopbackForward(`${netnsPrefix(home)}crashed`, 9001, sock);
  const theirs = await openLoopbackForward(`${netnsPrefix(other)}alive`, 9001, join(other, 'y.sock'));
  try {
    const list = () => execFileSync('ip', ['netns', 'list'], { encoding: 'utf8' });
    assert.match(list(), /crashed/);
    assert.ok((await new RuncBackend({ home }).recover()) >= 1);
    assert.doesNotMatch(list(), /crashed/);
    assert.match(list(), /alive/, 'another home’s namespace is left alone');
    const procs = execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' });
    assert.doesNotMatch(procs, new RegExp(`socat.*${sock}`));
  } finally {
    await mine.close();
    await theirs.close();
  }
});

test('on the process backend (no isolation) the Runtime API is a host loopback port', async () => {
  const p = await startTestServer({ backend: 'process' });
  try {
    await deployTo(p.url, join(examples, 'lambda-python'));
    const r = await fetch(`${p.url}/v1/functions/lambda-python/invoke`, {
      method: 'POST',
      body: '{"name":"p"}',
    });
    assert.equal(r.status, 200);
    assert.equal((JSON.parse(await r.text()) as { hello: string }).hello, 'p');
  } finally {
    await p.close();
  }
});

test('agni bench cold: a warm lambda row beside the warm worker, in one run', async () => {
  const bench = async (...args: string[]) => {
    const fixed = [CLI, 'bench', 'cold', join(examples, 'noop'), '--baselines', 'fork', '--json'];
    const { stdout } = await run('node', [...fixed, ...args], { env: process.env });
    return (JSON.parse(stdout) as { rows: { name: string; total?: { n: number }; unavailable?: string }[] })
      .rows;
  };
  const dirs = ['--warm', join(examples, 'noop-warm'), '--lambda', join(examples, 'noop-lambda')];
  const rows = await bench('-n', '2', '--modes', 'warm,lambda', ...dirs);
  assert.deepEqual(
    rows.map((r) => `${r.name} ${r.total?.n}`),
    ['warm 2', 'lambda 2', 'fork 2'],
  );
  const [row] = await bench('-n', '1', '--modes', 'lambda');
  assert.match(row?.unavailable ?? '', /--lambda DIR/);
});
