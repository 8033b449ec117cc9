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
    const r = await w.run(v, async () => base(v), {
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

// Output isolation between callers of one worker (issue 10): what one call leaves behind (a
// background process, bytes outside any call's count, a broken completion line) never reaches
// another call's caller or record.
const LEAK_SH = `. "$AGNI_RUNTIMES/shell/agni-warm.sh"
n=0
handle() {
  n=$((n + 1))
  read -r p || true
  if [ "$p" = bg ]; then (sleep 0.3; echo LEAK; echo LEAKERR >&2) & fi
  if [ "$p" = slow ]; then sleep 0.8; fi
  echo "out $p $n"
  echo "err $p $n" >&2
}
agni_serve handle
`;
const LEAK_PY = `import os, subprocess, sys, time
sys.path.insert(0, "/agni/runtimes/python")
import agni_warm
n = 0
def handle(payload):
    global n
    n += 1
    p = payload.decode()
    if p == "bg":
        # inherits fd 1 and 2 themselves: the helper never counts what it writes
        subprocess.Popen(["/bin/sh", "-c", "sleep 0.3; echo LEAK; echo LEAKERR >&2"])
    if p == "slow":
        time.sleep(0.8)
    print(f"err {p} {n}", file=sys.stderr)
    return f"out {p} {n}\\n"
agni_warm.serve(handle)
`;
// A thread started before 'ready' writes outside any call, straight to fds 1 and 2.
const TICK_PY = `import os, sys, threading, time
sys.path.insert(0, "/agni/runtimes/python")
import agni_warm
def tick():
    time.sleep(0.5)
    os.write(1, b"TICK\\n")
    os.write(2, b"TOCK\\n")
threading.Thread(target=tick, daemon=True).start()
n = 0
def handle(payload):
    global n
    n += 1
    print(f"err {payload.decode()} {n}", file=sys.stderr)
    return f"out {payload.decode()} {n}\\n"
agni_warm.serve(handle)
`;
// Answers every request with a line that is not a completion.
const BAD_LINE_SH = `printf 'ready\\n' >&4
while read -r id dl n <&3; do
  [ "$n" -gt 0 ] && head -c "$n" <&3 >/dev/null
  printf 'this is not a completion\\n' >&4
done
`;
// The sh helper's calls end at a mark the platform sends: a handler that prints every variable
// of its shell (`set`) or a fake mark must still get all of its output.
const MARK_SH = `. /agni/runtimes/shell/agni-warm.sh
handle() { cat; echo; set; echo "agni-end-00000000000000000000000000000000"; echo end; }
agni_serve handle
`;
// Asks for marks, then answers with counts: that says nothing sure about where its output ends.
const MARK_COUNTS_SH = `printf 'ready 0 0 mark\\n' >&4
while read -r id dl n mark <&3; do
  printf '%s' "$mark"; printf '%s' "$mark" >&2
  printf '%s 0 0 0\\n' "$id" >&4
done
`;
const warmYaml = (name: string, command: string[]) => `name: ${name}
runtime: host
command: ${JSON.stringify(command)}
lifecycle: warm
pool:
  max: 1
limits:
  timeout: 5s
`;

test("process backend: a process a call leaves in the worker's process group retires the worker", async () => {
  const backend = new ProcessBackend();
  const log: object[] = [];
  const w = new WarmWorkers({ startWorker: (sp) => backend.startWorker(sp) }, undefined, {
    warn: (o) => log.push(o),
  });
  const v: VersionRecord = {
    function: 'leak-sh',
    version: 1,
    manifest: validateManifest({
      name: 'leak-sh',
      runtime: 'host',
      command: ['/bin/sh', '/fn/main.sh'],
      lifecycle: 'warm',
      pool: { max: 1 },
    }),
    codeDir: fnDir({ 'main.sh': LEAK_SH }),
    imageId: 'host',
    createdAt: 0,
  };
  const spec: SandboxSpec = {
    id: 'leak-sh-v1',
    rootfs: '',
    hostRuntime: true,
    codeDir: v.codeDir,
    args: v.manifest.command,
    env: {},
    cwd: '/fn',
    limits: v.manifest.limits,
    network: 'none',
  };
  const call = async (payload: string) => {
    let out = '';
    await w.run(v, async () => spec, {
      id: `t${Math.random().toString(36).slice(2)}`,
      deadline: Date.now() + 5000,
      payload: Buffer.from(payload),
      io: { onStdout: (c) => (out += c), onStderr: () => {} },
      hooks: {},
    });
    return out;
  };
  try {
    assert.equal(await call('x'), 'out x 1\n');
    assert.equal(await call('bg'), 'out bg 2\n');
    assert.equal(await call('slow'), 'out slow 1\n', 'a fresh worker');
    assert.equal(w.strays().workers, 1);
    assert.match(JSON.stringify(log), /"worker":"leak-sh-v1-w[0-9a-f]+".*left \d+ process/);
  } finally {
    await w.shutdown();
    await backend.shutdown();
  }
});

describe('warm workers: one call never sees another call’s output', () => {
  before(async () => {
    s = await startTestServer({ slots: 4 });
    await deployDir(
      fnDir({ 'agni.yaml': warmYaml('leak-sh', ['/bin/sh', '/fn/main.sh']), 'main.sh': LEAK_SH }),
    );
    await deployDir(
      fnDir({ 'agni.yaml': warmYaml('leak-py', ['python3', '/fn/main.py']), 'main.py': LEAK_PY }),
    );
    await deployDir(
      fnDir({ 'agni.yaml': warmYaml('tick-py', ['python3', '/fn/main.py']), 'main.py': TICK_PY }),
    );
    await deployDir(
      fnDir({ 'agni.yaml': warmYaml('bad-line', ['/bin/sh', '/fn/main.sh']), 'main.sh': BAD_LINE_SH }),
    );
    await deployDir(
      fnDir({ 'agni.yaml': warmYaml('mark-sh', ['/bin/sh', '/fn/main.sh']), 'main.sh': MARK_SH }),
    );
    await deployDir(
      fnDir({ 'agni.yaml': warmYaml('mark-counts', ['/bin/sh', '/fn/main.sh']), 'main.sh': MARK_COUNTS_SH }),
    );
  });
  after(async () => {
    await s?.close();
  });

  for (const fn of ['leak-sh', 'leak-py']) {
    test(`${fn}: a background process left by one call writes into no later call`, async () => {
      const one = await invoke(fn, 'bg');
      assert.equal(one.status, 200, one.text);
      assert.equal(one.text, 'out bg 1\n');
      // the next call runs while the left-over process writes
      const two = await invoke(fn, 'slow');
      assert.equal(two.status, 200, two.text);
      assert.match(two.text, /^out slow \d\n$/);
      await new Promise((r) => setTimeout(r, 300));
      const rec1 = await record(one.id);
      const rec2 = await record(two.id);
      assert.equal(rec1.stdoutTail, 'out bg 1\n');
      assert.equal(rec1.stderrTail, 'err bg 1\n');
      assert.equal(rec2.stdoutTail, two.text);
      assert.match(rec2.stderrTail, /^err slow \d\n$/);
      const three = await invoke(fn, 'x');
      assert.match(three.text, /^out x \d\n$/);
      assert.match((await record(three.id)).stderrTail, /^err x \d\n$/);
    });
  }

  test('output a worker writes between calls goes to nobody', async () => {
    const one = await invoke('tick-py', 'a');
    assert.equal(one.text, 'out a 1\n');
    await new Promise((r) => setTimeout(r, 900)); // the worker's thread writes now, in no call
    const two = await invoke('tick-py', 'b');
    assert.equal(two.status, 200, two.text);
    assert.match(two.text, /^out b \d\n$/);
    assert.match((await record(two.id)).stderrTail, /^err b \d\n$/);
    assert.equal((await record(one.id)).stdoutTail, 'out a 1\n');
  });

  test('an sh handler that prints its shell’s variables or a mark of its own gets all of its output', async () => {
    for (const payload of ['first', `agni-end-${'1'.repeat(32)}`]) {
      const r = await invoke('mark-sh', payload);
      assert.equal(r.status, 200, r.text);
      assert.ok(r.text.startsWith(`${payload}\n`), r.text.slice(0, 80));
      assert.match(r.text, /_agni_id=/, 'the variables were printed');
      assert.ok(r.text.endsWith('agni-end-00000000000000000000000000000000\nend\n'), r.text.slice(-120));
    }
    const rec = await record((await invoke('mark-sh', 'third')).id);
    assert.equal(rec.status, 'succeeded', 'the same worker serves on: nothing was stray');
  });

  test('a worker that asked for marks and answers with counts fails the call as a protocol error', async () => {
    const r = await invoke('mark-counts', 'x');
    assert.equal(r.status, 502, r.text);
    assert.match(
      (await record(r.id)).stderrTail,
      /warm protocol error: completion .* has counts where the call ends at its mark/,
    );
  });

  test('a malformed completion line fails the call as a protocol error, not a timeout', async () => {
    const r = await invoke('bad-line', 'x');
    assert.equal(r.status, 502, r.text);
    const rec = await record(r.id);
    assert.equal(rec.status, 'failed');
    assert.match(rec.stderrTail, /warm protocol error: bad completion line "this is not a completion"/);
    const again = await invoke('bad-line', 'y');
    assert.equal(again.status, 502, again.text);
  });
});
