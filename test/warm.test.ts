/** Warm workers (lifecycle: warm) end to end: real embedded server, runc backend, HTTP. */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { WarmWorkers } from '../src/agent/warm-workers.js';
import { validateManifest } from '../src/core/manifest.js';
import type { SandboxSpec } from '../src/sandbox/backend.js';
import { ProcessBackend } from '../src/sandbox/process-backend.js';
import type { VersionRecord } from '../src/store/store.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { fnDir, tarOf } from './helpers/tarball.js';

let s: TestServer;
const examples = fileURLToPath(new URL('../../examples/', import.meta.url));

async function deployDir(dir: string): Promise<void> {
  const r = await fetch(`${s.url}/v1/functions`, {
    method: 'POST',
    headers: { 'content-type': 'application/gzip' },
    body: new Uint8Array(await tarOf(dir)),
  });
  assert.equal(r.status, 201, await r.text());
}

async function invoke(name: string, body = ''): Promise<{ status: number; text: string; id: string }> {
  const r = await fetch(`${s.url}/v1/functions/${name}/invoke`, { method: 'POST', body });
  return { status: r.status, text: await r.text(), id: r.headers.get('agni-invocation-id') ?? '' };
}

async function record(id: string): Promise<{ status: string; stdoutTail: string; stderrTail: string }> {
  const r = await fetch(`${s.url}/v1/invocations/${id}`);
  assert.equal(r.status, 200);
  return (await r.json()) as { status: string; stdoutTail: string; stderrTail: string };
}

// A warm Python function whose payload picks a behaviour; TOKEN is new per worker.
const EDGE_PY = `import os, sys, time
sys.path.insert(0, "/agni/runtimes/python")
import agni_warm
TOKEN = os.urandom(6).hex()
calls = 0
def handle(payload):
    global calls
    calls += 1
    p = payload.decode()
    if p == "sleep":
        time.sleep(30)
    if p == "exit":
        print("bye", file=sys.stderr)
        sys.stderr.flush()
        os._exit(3)
    if p == "oom":
        hog = b"x" * (200 * 1024 * 1024)
        return str(len(hog))
    if p == "raise":
        raise ValueError("handler failed")
    if p.startswith("nap"):
        time.sleep(float(p[3:]))
    return f"{TOKEN} {calls}"
agni_warm.serve(handle)
`;
const EDGE_YAML = `name: warm-edge
runtime: host
command: ["python3", "/fn/main.py"]
lifecycle: warm
pool:
  max: 2
limits:
  memory: 48Mi
  timeout: 1500ms
`;

describe('warm workers', () => {
  before(async () => {
    s = await startTestServer({ slots: 4 });
    await deployDir(fnDir({ 'agni.yaml': EDGE_YAML, 'main.py': EDGE_PY }));
  });
  after(async () => {
    await s?.close();
  });

  for (const lang of ['python', 'node', 'shell']) {
    test(`warm-${lang}: one interpreter serves calls in a row, each with its own payload, stdout and stderr`, async () => {
      await deployDir(join(examples, `warm-${lang}`));
      const stamps = new Set<string>();
      for (let i = 1; i <= 5; i++) {
        const r = await invoke(`warm-${lang}`, `p${i}`);
        assert.equal(r.status, 200, r.text);
        const m = /^hello p(\d) #(\d+) pid=\d+ started=(\S+)\n$/.exec(r.text);
        assert.ok(m, `unexpected output ${JSON.stringify(r.text)}`);
        assert.equal(m[1], String(i));
        assert.equal(m[2], String(i), 'the call counter proves the same worker served every call');
        stamps.add(m[3]!);
        const rec = await record(r.id);
        assert.equal(rec.stdoutTail, r.text);
        assert.equal(rec.stderrTail, `call ${i} for ${r.id}\n`);
      }
      assert.equal(stamps.size, 1, 'one start-up stamp: imports were paid once');
    });
  }

  test('a handler error fails only that invocation; the worker stays', async () => {
    const a = await invoke('warm-edge');
    assert.equal(a.status, 200, a.text);
    const bad = await invoke('warm-edge', 'raise');
    assert.equal(bad.status, 502);
    assert.match((await record(bad.id)).stderrTail, /ValueError: handler failed/);
    const b = await invoke('warm-edge');
    assert.equal(b.text.split(' ')[0], a.text.split(' ')[0]);
  });

  test('past the deadline the worker is killed (504) and the next call gets a fresh one', async () => {
    const before = (await invoke('warm-edge')).text.split(' ')[0];
    const t0 = Date.now();
    const r = await invoke('warm-edge', 'sleep');
    assert.equal(r.status, 504, r.text);
    assert.ok(Date.now() - t0 < 5000);
    const next = await invoke('warm-edge');
    assert.equal(next.status, 200, next.text);
    assert.notEqual(next.text.split(' ')[0], before);
  });

  test('a worker that exits mid-request fails it (502) and the next call works', async () => {
    const r = await invoke('warm-edge', 'exit');
    assert.equal(r.status, 502, r.text);
    const rec = await record(r.id);
    assert.equal(rec.status, 'failed');
    assert.equal(rec.stderrTail, 'bye\n');
    const next = await invoke('warm-edge');
    assert.equal(next.status, 200, next.text);
    assert.match(next.text, /^[0-9a-f]{12} 1$/);
  });

  test('a worker killed for memory is 507 and the next call works', async () => {
    const r = await invoke('warm-edge', 'oom');
    assert.equal(r.status, 507, r.text);
    const next = await invoke('warm-edge');
    assert.equal(next.status, 200, next.text);
    assert.match(next.text, /^[0-9a-f]{12} 1$/);
  });

  test('4 parallel calls with pool max 2 all succeed on at most 2 workers', async () => {
    const rs = await Promise.all([1, 2, 3, 4].map(() => invoke('warm-edge', 'nap0.3')));
    for (const r of rs) assert.equal(r.status, 200, r.text);
    const tokens = new Set(rs.map((r) => r.text.split(' ')[0]));
    assert.ok(tokens.size >= 1 && tokens.size <= 2, `workers used: ${[...tokens].join(', ')}`);
  });

  test('close() leaves no container, bundle or cgroup behind', async () => {
    await s.close();
    const list = execFileSync('runc', ['--root', join(s.home, 'run', 'runc'), 'list', '-q']).toString();
    assert.equal(list.trim(), '');
    assert.deepEqual(readdirSync(join(s.home, 'sandboxes')), []);
    const leaves: string[] = [];
    for (const ctrl of readdirSync('/sys/fs/cgroup')) {
      try {
        leaves.push(
          ...readdirSync(join('/sys/fs/cgroup', ctrl, 'agni')).filter((n) => n.startsWith('warm-')),
        );
      } catch {
        // no agni parent under this controller
      }
    }
    assert.deepEqual(leaves, []);
  });
});

describe('warm workers on the process backend (dev mode), driven directly', () => {
  const manifest = (pool: { min: number; max: number; idle: string }) =>
    validateManifest({
      name: 'warm-python',
      runtime: 'host',
      command: ['python3', '/fn/main.py'],
      lifecycle: 'warm',
      pool,
    });
  const codeDir = join(examples, 'warm-python');
  const base = (v: VersionRecord): SandboxSpec => ({
    id: `${v.function}-v${v.version}`,
    rootfs: '',
    hostRuntime: true,
    codeDir,
    args: v.manifest.command,
    env: {},
    cwd: '/fn',
    limits: v.manifest.limits,
    network: 'none',
  });
  const call = async (w: WarmWorkers, v: VersionRecord, payload: string) => {
    let out = '';
    const r = await w.run(v, base(v), {
      id: `t${Math.random().toString(36).slice(2)}`,
      deadline: Date.now() + 5000,
      payload: Buffer.from(payload),
      io: { onStdout: (c) => (out += c), onStderr: () => {} },
      hooks: {},
    });
    return { ...r, out };
  };

  test('idle workers above pool.min stop after pool.idle; drain and shutdown stop the rest', async () => {
    const backend = new ProcessBackend();
    const w = new WarmWorkers({ startWorker: (s) => backend.startWorker(s) });
    const v1: VersionRecord = {
      function: 'warm-python',
      version: 1,
      manifest: manifest({ min: 0, max: 1, idle: '200ms' }),
      codeDir,
      imageId: 'host',
      createdAt: 0,
    };
    const v2: VersionRecord = { ...v1, version: 2, manifest: manifest({ min: 1, max: 1, idle: '100ms' }) };
    try {
      const a = await call(w, v1, 'x');
      assert.equal(a.outcome, 'ok');
      assert.match(a.out, /^hello x #1 /);
      assert.match((await call(w, v1, 'y')).out, /^hello y #2 /);
      assert.deepEqual(w.stats()['warm-python@1'], { workers: 1, idle: 1 });
      await new Promise((r) => setTimeout(r, 500));
      assert.deepEqual(w.stats()['warm-python@1'], { workers: 0, idle: 0 }, 'stopped after idle');
      assert.match((await call(w, v1, 'z')).out, /^hello z #1 /, 'a fresh worker');
      assert.match((await call(w, v2, 'q')).out, /^hello q #1 /);
      await new Promise((r) => setTimeout(r, 300));
      assert.deepEqual(w.stats()['warm-python@2'], { workers: 1, idle: 1 }, 'pool.min stays');
      await w.drain('warm-python', 2);
      assert.equal(w.stats()['warm-python@1'], undefined);
      assert.deepEqual(w.stats()['warm-python@2'], { workers: 1, idle: 1 });
      await w.shutdown();
      await w.shutdown();
      assert.deepEqual(w.stats(), {});
    } finally {
      await w.shutdown();
      await backend.shutdown();
    }
  });
});
