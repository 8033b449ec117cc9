/** Prewarmed pools end to end: real embedded server, real runc, prepared sandboxes behind a gate. */
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { existingCgroupLeaves } from '../src/sandbox/cgroups.js';
import { RuncBackend } from '../src/sandbox/runc-backend.js';
import { type RuncEntry, runcList as runcListOf } from './helpers/runc-list.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { fnDir, tarOf } from './helpers/tarball.js';

let s: TestServer;

async function deploy(files: Record<string, string>): Promise<number> {
  const r = await fetch(`${s.url}/v1/functions`, {
    method: 'POST',
    headers: { 'content-type': 'application/gzip' },
    body: new Uint8Array(await tarOf(fnDir(files))),
  });
  assert.equal(r.status, 201, await r.clone().text());
  return ((await r.json()) as { version: number }).version;
}

async function invoke(name: string, body = ''): Promise<{ status: number; text: string; id: string }> {
  const r = await fetch(`${s.url}/v1/functions/${name}/invoke`, { method: 'POST', body });
  const text = await r.text();
  return { status: r.status, text, id: r.headers.get('agni-invocation-id') ?? '' };
}

/** a host process runs `sleep SECONDS` (a sandbox's process seen from the host) */
function sleeping(seconds: string): boolean {
  return readdirSync('/proc').some((d) => {
    try {
      return /^\d+$/.test(d) && readFileSync(`/proc/${d}/cmdline`, 'latin1') === `sleep\0${seconds}\0`;
    } catch {
      return false;
    }
  });
}

const manifest = (name: string, command: string | string[], extra = '') =>
  `name: ${name}\nruntime: host\ncommand: ${JSON.stringify(command)}\n${extra}`;

const runcList = (home: string): RuncEntry[] => runcListOf(join(home, 'run', 'runc'));

async function rm(name: string): Promise<void> {
  assert.equal((await fetch(`${s.url}/v1/functions/${name}`, { method: 'DELETE' })).status, 200);
}

const waitingOf = (home: string, prefix: string) =>
  runcList(home).filter((c) => c.id.startsWith(prefix) && c.status === 'running');

// Generous: a prepared sandbox takes tens of ms on a quiet machine, seconds on a loaded CI host.
/**
 * A drain kills the pool's sandboxes before the answer (none is left running or waiting); `runc
 * delete` and the bundle's removal follow in the background, so `runc list` may still show them
 * `stopped` for a moment. (CI caught the test asserting an empty list at once.)
 */
async function drained(prefix: string): Promise<void> {
  const mine = () => runcList(s.home).filter((c) => c.id.startsWith(prefix));
  assert.deepEqual(
    mine().filter((c) => c.status !== 'stopped'),
    [],
    `${prefix}*: none left running or waiting`,
  );
  await until(`${prefix}* deleted`, () => mine().length === 0, 5000);
}

async function until(what: string, check: () => boolean, ms = 15000): Promise<void> {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) assert.fail(`timed out waiting until ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function phases(id: string): Promise<Record<string, number>> {
  const r = await fetch(`${s.url}/v1/invocations/${id}`);
  return ((await r.json()) as { phases: Record<string, number> }).phases;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

describe('prewarmed pools', () => {
  before(async () => {
    s = await startTestServer({ slots: 8 });
  });
  after(async () => {
    await s?.close();
    assert.deepEqual(runcList(s.home), []);
    assert.deepEqual(readdirSync(join(s.home, 'sandboxes')), []);
    // no leaf cgroup of any sandbox this suite made (timeouts and OOM kills included) is left
    const mine = /^(ptail|warmish|envy|pnap|pexit|phog|idler|vers|victim|noop-pre|noop-fresh)-v\d+-p/;
    for (const dir of ['memory', 'pids', 'cpu'].map((c) => `/sys/fs/cgroup/${c}/agni`)) {
      const left = existsSync(dir) ? readdirSync(dir).filter((n) => mine.test(n)) : [];
      assert.deepEqual(left, [], dir);
    }
  });

  test('a waiting sandbox serves the next invocation, with its own env and exact argv', async () => {
    const cmd = [
      '/bin/sh',
      '-c',
      'cat /proc/self/cgroup | grep -m1 -o "/agni/.*"; echo "id=$AGNI_INVOCATION_ID"; echo "[$0] [$1]"; cat',
      'a b',
      'it\'s "q"',
    ];
    await deploy({ 'agni.yaml': manifest('warmish', cmd, 'pool:\n  min: 1\n  max: 2\n') });
    const first = await invoke('warmish', 'p0');
    assert.equal(first.status, 200, first.text);
    // runc lists a sandbox as running before its gate said it waits: the pool's own view decides
    const poolHolds = () =>
      waitingOf(s.home, 'warmish-v1-p').length >= 1 && s.prewarm!.held().includes('warmish@1');
    await until('a prepared sandbox waits', poolHolds);
    for (let i = 1; i <= 4; i++) {
      const waiting = waitingOf(s.home, 'warmish-v1-p').map((c) => c.id);
      assert.ok(waiting.length >= 1);
      const hitsBefore = s.prewarm!.stats().hits;
      const r = await invoke('warmish', `payload ${i}`);
      assert.equal(r.status, 200, r.text);
      const lines = r.text.split('\n');
      // it ran in one of the containers that was waiting before the call
      const cg = lines[0]!.replace('/agni/', '');
      assert.ok(waiting.includes(cg), `${cg} was one of ${waiting.join(', ')}`);
      assert.equal(lines[1], `id=${r.id}`);
      assert.equal(lines[2], `[a b] [it's "q"]`);
      assert.equal(lines[3], `payload ${i}`);
      assert.equal(s.prewarm!.stats().hits, hitsBefore + 1);
      await until('the pool is refilled', poolHolds);
    }
    // the function's environment is exactly the spec's: the gate adds nothing of its own
    await deploy({ 'agni.yaml': manifest('envy', ['env'], 'env:\n  FOO: "a b"\npool:\n  min: 1\n') });
    await invoke('envy');
    await until('a prepared sandbox waits', () => waitingOf(s.home, 'envy-v1-p').length >= 1);
    const r = await invoke('envy');
    // (the HTTP request's AGNI_HTTP_* variables are test/request-context.test.ts's subject)
    const keys = r.text
      .trim()
      .split('\n')
      .map((l) => l.split('=')[0]!)
      .filter((k) => !k.startsWith('AGNI_HTTP_'))
      .sort();
    assert.deepEqual(keys, [
      'AGNI_DEADLINE_MS',
      'AGNI_FUNCTION',
      'AGNI_FUNCTION_VERSION',
      'AGNI_INVOCATION_ID',
      'FOO',
      'HOME',
      'PATH',
    ]);
    assert.match(r.text, /^FOO=a b$/m);
    await rm('warmish');
    await rm('envy');
  });

  test('timeout, out of memory and a non-zero exit in prewarmed sandboxes', async () => {
    const pool = 'pool:\n  min: 1\n';
    await deploy({ 'agni.yaml': manifest('pnap', 'sleep 30', `limits:\n  timeout: 500ms\n${pool}`) });
    await deploy({ 'agni.yaml': manifest('pexit', 'echo bad >&2; exit 3', pool) });
    await deploy({
      'agni.yaml': manifest(
        'phog',
        'python3 -c "b = bytearray(400 * 1024 * 1024); print(len(b))"',
        `limits:\n  memory: 32Mi\n${pool}`,
      ),
    });
    for (const [name, status] of [
      ['pnap', 504],
      ['pexit', 502],
      ['phog', 507],
    ] as const) {
      await invoke(name); // creates the pool
      await until(`${name} has a waiting sandbox`, () => waitingOf(s.home, `${name}-v1-p`).length >= 1);
      const hits = s.prewarm!.stats().hits;
      const t0 = Date.now();
      const r = await invoke(name);
      assert.equal(r.status, status, `${name}: ${r.text}`);
      assert.equal(s.prewarm!.stats().hits, hits + 1, `${name} ran prewarmed`);
      if (name === 'pnap') assert.ok(Date.now() - t0 < 5000);
      if (name === 'pexit') assert.match(r.text, /bad|function_failed/);
      await rm(name);
    }
  });

  test('answered from the gate: all output, the exit code, and nothing the function left running', async () => {
    // 300 KiB, more than a pipe holds, then a child left behind that would write later: the
    // answer comes from the gate's report, with every byte written before the exit and none after.
    const cmd = 'head -c 307200 /dev/zero | tr "\\0" x; (sleep 30.5; echo late) & echo bye >&2; exit 7';
    await deploy({ 'agni.yaml': manifest('pgate', cmd, 'pool:\n  min: 1\n') });
    await invoke('pgate'); // creates the pool
    await until('pgate has a waiting sandbox', () => waitingOf(s.home, 'pgate-v1-p').length >= 1);
    const hits = s.prewarm!.stats().hits;
    const r = await fetch(`${s.url}/v1/functions/pgate/invoke`, { method: 'POST', body: '' });
    const body = await r.text();
    assert.equal(s.prewarm!.stats().hits, hits + 1, 'it ran prewarmed');
    assert.equal(body.length, 307200);
    assert.ok(/^x+$/.test(body));
    assert.equal(r.headers.get('agni-invocation-id') !== null, true);
    const rec = (await (
      await fetch(`${s.url}/v1/invocations/${r.headers.get('agni-invocation-id')}`)
    ).json()) as {
      status: string;
      exitCode: number;
      stderrTail: string;
      stdoutBytes: number;
    };
    assert.equal(rec.status, 'failed');
    assert.equal(rec.exitCode, 7);
    assert.equal(rec.stderrTail, 'bye\n');
    assert.equal(rec.stdoutBytes, 307200);
    await until('the child it left running is killed', () => !sleeping('30.5'));
    await rm('pgate');
  });

  test('answered from the gate under CPU load: the last bytes before the exit are never lost', async () => {
    // Regression: the function's output once went through runc's own copy of fds 1 and 2, which
    // under load delivered the tail after the gate's exit report: answers lost their last line.
    await deploy({ 'agni.yaml': manifest('ptail', 'cat; echo "$AGNI_INVOCATION_ID"', 'pool:\n  min: 1\n') });
    await invoke('ptail');
    const hogs = [0, 1, 2, 3].map(() => spawn('sh', ['-c', 'while :; do :; done'], { stdio: 'ignore' }));
    try {
      for (let i = 0; i < 25; i++) {
        await until('ptail has a waiting sandbox', () => s.prewarm!.held().includes('ptail@1'));
        const r = await invoke('ptail', `line ${i}\n`);
        assert.equal(r.text, `line ${i}\n${r.id}\n`);
      }
    } finally {
      for (const h of hogs) h.kill('SIGKILL');
    }
    await rm('ptail');
  });

  test('an idle pool with min 0 scales to zero', async () => {
    await deploy({ 'agni.yaml': manifest('idler', 'true', 'pool:\n  min: 0\n  max: 1\n  idle: 1s\n') });
    await invoke('idler');
    await until('one waits', () => waitingOf(s.home, 'idler-v1-p').length === 1);
    await new Promise((r) => setTimeout(r, 2500));
    await until('none is left', () => runcList(s.home).every((c) => !c.id.startsWith('idler-')), 2000);
  });

  test('a new version drains the old one; rm drains all', async () => {
    await deploy({ 'agni.yaml': manifest('vers', 'echo one', 'pool:\n  min: 1\n') });
    await invoke('vers');
    await until('v1 waits', () => waitingOf(s.home, 'vers-v1-p').length >= 1);
    await deploy({ 'agni.yaml': manifest('vers', 'echo two', 'pool:\n  min: 1\n') });
    await drained('vers-v1-');
    assert.equal((await invoke('vers')).text, 'two\n');
    await until('v2 waits', () => waitingOf(s.home, 'vers-v2-p').length >= 1);
    assert.equal((await fetch(`${s.url}/v1/functions/vers`, { method: 'DELETE' })).status, 200);
    await drained('vers-');
  });

  test('a rollback drains the pool of the version that was live, as a deploy does', async () => {
    await deploy({ 'agni.yaml': manifest('rolls', 'echo one', 'pool:\n  min: 1\n') });
    await deploy({ 'agni.yaml': manifest('rolls', 'echo two', 'pool:\n  min: 1\n') });
    await invoke('rolls');
    await until('v2 waits', () => waitingOf(s.home, 'rolls-v2-p').length >= 1);
    const rb = await fetch(`${s.url}/v1/functions/rolls/rollback`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: '{}',
    });
    assert.equal(rb.status, 200, await rb.clone().text());
    await drained('rolls-v2-');
    assert.equal((await invoke('rolls')).text, 'one\n');
    await until('v1 waits', () => waitingOf(s.home, 'rolls-v1-p').length >= 1);
  });

  test('a waiting sandbox killed from outside is dropped, not handed out', async () => {
    await deploy({ 'agni.yaml': manifest('victim', 'echo alive', 'pool:\n  min: 1\n  max: 1\n') });
    await invoke('victim');
    await until('one waits', () => waitingOf(s.home, 'victim-v1-p').length === 1);
    const [c] = waitingOf(s.home, 'victim-v1-p');
    const lost = s.prewarm!.stats().lost;
    execFileSync('runc', ['--root', join(s.home, 'run', 'runc'), 'kill', c!.id, 'KILL']);
    await until('the loss is noticed', () => s.prewarm!.stats().lost === lost + 1);
    const r = await invoke('victim');
    assert.equal(r.status, 200);
    assert.equal(r.text, 'alive\n');
    await until('the dead one is deleted', () => runcList(s.home).every((x) => x.id !== c!.id));
    await rm('victim');
  });

  test('observed: prewarmed vs fresh no-op phases (no assertions on speed)', async () => {
    await deploy({ 'agni.yaml': manifest('noop-pre', ['true'], 'pool:\n  min: 1\n  max: 1\n') });
    await deploy({ 'agni.yaml': manifest('noop-fresh', ['true'], 'pool:\n  max: 0\n') });
    const res: Record<string, { rf: number[]; total: number[] }> = {};
    for (const name of ['noop-pre', 'noop-fresh']) {
      res[name] = { rf: [], total: [] };
      await invoke(name);
      for (let i = 0; i < 7; i++) {
        if (name === 'noop-pre') await until('waits', () => waitingOf(s.home, 'noop-pre-v1-p').length === 1);
        const r = await invoke(name);
        const p = await phases(r.id);
        res[name]!.rf.push(p.finished! - p.sandbox_ready!);
        res[name]!.total.push(p.finished! - p.received!);
      }
    }
    for (const [name, r] of Object.entries(res))
      console.log(
        `# ${name}: median sandbox_ready→finished ${median(r.rf).toFixed(1)} ms, received→finished ${median(r.total).toFixed(1)} ms`,
      );
  });
});

describe('prewarm budget, shutdown and recovery', () => {
  test('with one slot at most one prepared sandbox exists; close leaves nothing', async () => {
    s = await startTestServer({ slots: 1 });
    const home = s.home;
    try {
      await deploy({ 'agni.yaml': manifest('b1', 'true', 'pool:\n  min: 2\n  max: 3\n') });
      await deploy({ 'agni.yaml': manifest('b2', 'true', 'pool:\n  min: 2\n  max: 3\n') });
      let peak = 0;
      for (let i = 0; i < 6; i++) {
        await invoke(i % 2 ? 'b1' : 'b2');
        for (let j = 0; j < 6; j++) {
          // A sandbox that ran an invocation is torn down after the answer (stopped, then deleted
          // in the background) while its replacement is prepared: only live ones count.
          const n = runcList(home).filter(
            (c) => /-p[0-9a-f]{8}$/.test(c.id) && c.status !== 'stopped',
          ).length;
          peak = Math.max(peak, n);
          assert.ok(s.prewarm!.stats().current <= 1);
          await new Promise((r) => setTimeout(r, 30));
        }
      }
      assert.ok(peak <= 1, `peak ${peak}`);
      assert.ok(peak === 1, 'something was prepared at all');
      const ids = runcList(home).map((c) => c.id);
      await s.close();
      assert.deepEqual(runcList(home), []);
      assert.deepEqual(readdirSync(join(home, 'sandboxes')), []);
      for (const id of ids) assert.deepEqual(existingCgroupLeaves(id), []);
    } finally {
      await s.close();
    }
  });

  test('recover() deletes prepared sandboxes a crashed instance left', async () => {
    s = await startTestServer({ slots: 2 });
    const home = s.home;
    try {
      await deploy({ 'agni.yaml': manifest('crashy', 'true', 'pool:\n  min: 1\n') });
      await invoke('crashy');
      await until('one waits', () => waitingOf(home, 'crashy-v1-p').length === 1);
    } catch (e) {
      await s.close();
      throw e;
    }
    const [c] = waitingOf(home, 'crashy-v1-p');
    // A second backend on the same home plays the restarted instance (the first "crashed").
    const fresh = new RuncBackend({ home });
    assert.ok((await fresh.recover()) >= 1);
    // (the still-live old instance may already be preparing a replacement, so look at this id only)
    assert.ok(runcList(home).every((x) => x.id !== c!.id));
    assert.deepEqual(existingCgroupLeaves(c!.id), []);
    await s.close(); // the old instance notices its sandbox is gone and still closes cleanly
    assert.deepEqual(runcList(home), []);
    assert.deepEqual(readdirSync(join(home, 'sandboxes')), []);
  });
});
