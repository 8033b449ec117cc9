import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isAgniError } from '../src/core/errors.js';
import type { SandboxResult, SandboxSpec } from '../src/sandbox/backend.js';
import { existingCgroupLeaves } from '../src/sandbox/cgroups.js';
import { buildOciSpec } from '../src/sandbox/oci-spec.js';
import { RuncBackend } from '../src/sandbox/runc-backend.js';
import { defaultSeccompProfile } from '../src/sandbox/seccomp.js';
import { makeBusyboxRootfs } from './helpers/busybox-rootfs.js';

const home = mkdtempSync(join(tmpdir(), 'agni-runc-test-'));
const stateRoot = join(home, 'run', 'runc');
const rootfs = makeBusyboxRootfs(join(home, 'busybox'));
const codeDir = join(home, 'code');
mkdirSync(codeDir, { recursive: true });
writeFileSync(join(codeDir, 'hello.txt'), 'hello from fn\n');
// World-writable dirs in the image: a failed write there can only be the read-only root, not permissions.
chmodSync(rootfs, 0o777);
chmodSync(join(rootfs, 'etc'), 0o777);
// Like many images: a 0755 /tmp mountpoint. The backend must still give nobody a writable /tmp.
chmodSync(join(rootfs, 'tmp'), 0o755);

const backend = new RuncBackend({ home });
const usedIds: string[] = [];
let seq = 0;

function mkSpec(args: string[], over: Partial<SandboxSpec> = {}): SandboxSpec {
  const id = `t${process.pid}-${seq++}`;
  usedIds.push(id);
  return {
    id,
    rootfs,
    hostRuntime: false,
    codeDir,
    args,
    env: {},
    cwd: '/fn',
    limits: { memoryBytes: 64 * 1024 * 1024, cpus: 1, pids: 64, timeoutMs: 10_000 },
    network: 'none',
    ...over,
  };
}

interface Run {
  result: SandboxResult;
  stdout: string;
  stderr: string;
  ms: number;
}

async function run(spec: SandboxSpec, stdin = ''): Promise<Run> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const t0 = performance.now();
  const result = await backend.run(spec, {
    stdin: Buffer.from(stdin),
    onStdout: (c) => out.push(c),
    onStderr: (c) => err.push(c),
  });
  return {
    result,
    stdout: Buffer.concat(out).toString(),
    stderr: Buffer.concat(err).toString(),
    ms: performance.now() - t0,
  };
}

const sh = (script: string, over: Partial<SandboxSpec> = {}) => mkSpec(['/bin/sh', '-c', script], over);

/** Host processes still charged to a sandbox's cgroup. */
function processesInCgroup(id: string): number[] {
  const pids: number[] = [];
  for (const p of readdirSync('/proc')) {
    if (!/^\d+$/.test(p)) continue;
    try {
      if (readFileSync(`/proc/${p}/cgroup`, 'utf8').includes(`/agni/${id}`)) pids.push(Number(p));
    } catch {
      // process exited while scanning
    }
  }
  return pids;
}

function mountLine(mounts: string, dest: string): string | undefined {
  return mounts.split('\n').find((l) => l.split(' ')[1] === dest);
}

describe('RuncBackend (real runc)', { concurrency: false }, () => {
  before(async () => {
    const status = await backend.available();
    assert.ok(status.ok, `runc backend unavailable: ${status.reason}`);
    await backend.recover();
  });

  after(async () => {
    await backend.shutdown();
    rmSync(home, { recursive: true, force: true });
  });

  test('(a) stdin echoes to stdout, env vars pass through, hooks fire in order', async () => {
    const events: string[] = [];
    const spec = sh('cat; echo "fn=$AGNI_FUNCTION home=$HOME"', { env: { AGNI_FUNCTION: 'echo-fn' } });
    const out: Buffer[] = [];
    const result = await backend.run(
      spec,
      { stdin: Buffer.from('payload-123\n'), onStdout: (c) => out.push(c), onStderr: () => {} },
      { onReady: () => events.push('ready'), onStarted: () => events.push('started') },
    );
    assert.deepEqual(result, { outcome: 'ok', exitCode: 0, signal: null });
    assert.equal(Buffer.concat(out).toString(), 'payload-123\nfn=echo-fn home=/tmp\n');
    assert.deepEqual(events, ['ready', 'started']);
  });

  test('non-zero exit is failed with the exit code and stderr forwarded', async () => {
    const r = await run(sh('echo oops >&2; exit 3'));
    assert.deepEqual(r.result, { outcome: 'failed', exitCode: 3, signal: null });
    assert.equal(r.stderr, 'oops\n');
  });

  test('simple run latency (median of 10)', async (t) => {
    const times: number[] = [];
    for (let i = 0; i < 10; i++) {
      const r = await run(mkSpec(['/bin/true']));
      assert.equal(r.result.outcome, 'ok');
      times.push(r.ms);
    }
    times.sort((a, b) => a - b);
    const median = ((times[4] ?? 0) + (times[5] ?? 0)) / 2;
    t.diagnostic(`runc run() median ${median.toFixed(1)} ms (min ${times[0]?.toFixed(1)} ms)`);
    assert.ok(median < 2000);
  });

  test('(b) memory bomb under 32 MiB ends as oom', async () => {
    const r = await run(
      sh('x=aaaaaaaaaaaaaaaa; while :; do x=$x$x; done', {
        limits: { memoryBytes: 32 * 1024 * 1024, cpus: 1, pids: 64, timeoutMs: 20_000 },
      }),
    );
    assert.equal(r.result.outcome, 'oom', JSON.stringify(r.result) + r.stderr);
    assert.equal(r.result.exitCode, 137);
  });

  test('(c) fork bomb with pids limit 32 is contained and leaves nothing', async () => {
    const spec = sh('f() { f | f & }; f; while :; do sleep 1; done', {
      limits: { memoryBytes: 64 * 1024 * 1024, cpus: 1, pids: 32, timeoutMs: 3000 },
    });
    const r = await run(spec);
    assert.ok(['timeout', 'failed'].includes(r.result.outcome), JSON.stringify(r.result));
    assert.ok(r.ms < 10_000, `took ${r.ms} ms`);
    let left = processesInCgroup(spec.id);
    for (let i = 0; i < 40 && left.length > 0; i++) {
      await new Promise((res) => setTimeout(res, 50));
      left = processesInCgroup(spec.id);
    }
    assert.deepEqual(left, [], 'fork bomb processes survived');
  });

  test('(d) sleep 30 with a 1000 ms timeout ends as timeout promptly', async () => {
    const r = await run(
      mkSpec(['/bin/sleep', '30'], { limits: { memoryBytes: 64 << 20, cpus: 1, pids: 64, timeoutMs: 1000 } }),
    );
    assert.equal(r.result.outcome, 'timeout');
    assert.equal(r.result.signal, 'SIGKILL');
    assert.ok(r.ms >= 950 && r.ms < 4000, `took ${r.ms} ms`);
  });

  test('(e) root filesystem is read-only, /tmp is writable', async () => {
    const r = await run(
      sh(
        'touch /etc/x 2>&1; touch /x 2>&1; echo data > /tmp/ok && cat /tmp/ok; id -u; grep " / " /proc/mounts',
      ),
    );
    assert.equal(r.result.outcome, 'ok', r.stderr);
    const lines = r.stdout.split('\n');
    assert.match(lines[0] ?? '', /Read-only file system/);
    assert.match(lines[1] ?? '', /Read-only file system/);
    assert.equal(lines[2], 'data');
    assert.equal(lines[3], '65534');
    assert.ok(!existsSync(join(rootfs, 'x')) && !existsSync(join(rootfs, 'etc', 'x')));
  });

  test('(f) /tmp starts empty in every sandbox', async () => {
    const first = await run(sh('echo secret > /tmp/leftover; ls -A /tmp'));
    assert.equal(first.stdout, 'leftover\n');
    const second = await run(sh('ls -A /tmp'));
    assert.equal(second.result.outcome, 'ok');
    assert.equal(second.stdout, '');
  });

  test('(g) network none has only loopback; network host sees host interfaces', async () => {
    const none = await run(mkSpec(['/bin/ls', '/sys/class/net']));
    assert.equal(none.stdout.trim(), 'lo');
    const host = await run(mkSpec(['/bin/ls', '/sys/class/net'], { network: 'host' }));
    assert.equal(host.result.outcome, 'ok', host.stderr);
    const ifaces = host.stdout.trim().split(/\s+/);
    assert.deepEqual(ifaces.sort(), readdirSync('/sys/class/net').sort());
    assert.ok(ifaces.length > 1, `host has only ${ifaces}`);
  });

  test('(h) concurrent sandboxes cannot see each other', async () => {
    const a = run(sh('echo s > /tmp/secretA; sleep 2; cat /tmp/secretA'));
    await new Promise((res) => setTimeout(res, 500)); // A is running by now
    const b = await run(sh('ls /tmp/secretA 2>&1; ls /proc | grep -c "^[0-9]"; ps -o comm | grep -c sleep'));
    const ra = await a;
    assert.equal(ra.result.outcome, 'ok');
    assert.equal(ra.stdout, 's\n');
    const [lsOut, nprocs, nsleep] = b.stdout.trim().split('\n');
    assert.match(lsOut ?? '', /No such file/);
    assert.ok(Number(nprocs) <= 4, `B sees ${nprocs} processes`);
    assert.equal(nsleep, '0');
  });

  test('(i) no capabilities, no_new_privs, seccomp filter, nobody', async () => {
    const r = await run(mkSpec(['/bin/cat', '/proc/self/status']));
    const field = (k: string) => r.stdout.match(new RegExp(`^${k}:\\s*(.*)$`, 'm'))?.[1]?.trim();
    assert.equal(field('CapEff'), '0000000000000000');
    assert.equal(field('CapPrm'), '0000000000000000');
    assert.equal(field('CapBnd'), '0000000000000000');
    assert.equal(field('NoNewPrivs'), '1');
    assert.equal(field('Seccomp'), '2');
    assert.equal(field('Uid')?.split(/\s+/)[0], '65534');
    assert.equal(field('Gid')?.split(/\s+/)[0], '65534');
  });

  test('(j) host runtime: python works, /usr and /fn read-only, seccomp denies unshare with EPERM', async () => {
    const py = [
      'import ctypes, os',
      'print(1+1)',
      'print(open("/fn/hello.txt").read().strip())',
      'libc = ctypes.CDLL(None, use_errno=True)',
      'print(libc.unshare(0x10000000), ctypes.get_errno())',
      'print(os.getcwd())',
      'for p in ("/usr/x", "/fn/x", "/x"):',
      '  try: open(p, "w"); print("writable", p)',
      '  except OSError as e: print(e.errno)',
      'print(open("/proc/self/mounts").read())',
    ].join('\n');
    const r = await run(mkSpec(['python3', '-c', py], { hostRuntime: true, rootfs: '/ignored' }));
    assert.equal(r.result.outcome, 'ok', r.stderr);
    const lines = r.stdout.split('\n');
    assert.equal(lines[0], '2');
    assert.equal(lines[1], 'hello from fn');
    assert.equal(lines[2], '-1 1');
    assert.equal(lines[3], '/fn');
    assert.ok(!r.stdout.includes('writable'));
    const mounts = lines.slice(7).join('\n');
    for (const dest of ['/', '/usr', '/fn']) {
      const line = mountLine(mounts, dest);
      assert.ok(line, `no mount for ${dest}`);
      assert.match(line.split(' ')[3] ?? '', /^ro\b/, `${dest} not read-only: ${line}`);
    }
  });

  test('missing entrypoint is a failed run (127), not an infrastructure error', async () => {
    const r = await run(mkSpec(['/no/such/binary']));
    assert.equal(r.result.outcome, 'failed');
    assert.equal(r.result.exitCode, 127);
    assert.ok(r.stderr.length > 0);
  });

  test('(l) a nonexistent rootfs rejects with sandbox_error', async () => {
    const spec = mkSpec(['/bin/true'], { rootfs: join(home, 'does-not-exist') });
    await assert.rejects(
      backend.run(spec, { stdin: Buffer.alloc(0), onStdout: () => {}, onStderr: () => {} }),
      (e) => {
        assert.ok(isAgniError(e), String(e));
        assert.equal(e.code, 'sandbox_error');
        assert.match(e.message, /runc/);
        return true;
      },
    );
    assert.ok(!existsSync(join(home, 'does-not-exist')));
  });

  test("recover() removes a crashed instance's containers, bundles and cgroups", async () => {
    // Simulate a crash: a kept (stopped) container with its leaf cgroup and bundle, never deleted.
    const spec = mkSpec(['/bin/true']);
    const bundle = join(home, 'sandboxes', spec.id);
    mkdirSync(bundle, { recursive: true });
    const config = buildOciSpec(spec, {
      rootfs,
      hostMounts: [],
      uid: 65534,
      gid: 65534,
      seccomp: defaultSeccompProfile(),
    });
    writeFileSync(join(bundle, 'config.json'), JSON.stringify(config));
    execFileSync('runc', ['--root', stateRoot, 'run', '--keep', '--bundle', bundle, spec.id], {
      stdio: 'ignore',
    });
    assert.notDeepEqual(existingCgroupLeaves(spec.id), []);
    const cleaned = await backend.recover();
    assert.ok(cleaned >= 2, `recover cleaned ${cleaned}`);
    assert.equal(execFileSync('runc', ['--root', stateRoot, 'list', '-q'], { encoding: 'utf8' }).trim(), '');
    assert.deepEqual(existingCgroupLeaves(spec.id), []);
    assert.ok(!existsSync(bundle));
  });

  test('(k) after shutdown nothing is left behind', async () => {
    await backend.shutdown();
    await backend.shutdown(); // idempotent
    const listed = execFileSync('runc', ['--root', stateRoot, 'list', '-q'], { encoding: 'utf8' }).trim();
    assert.equal(listed, '');
    for (const id of usedIds) assert.deepEqual(existingCgroupLeaves(id), [], `cgroup left for ${id}`);
    const mountinfo = readFileSync('/proc/self/mountinfo', 'utf8');
    assert.ok(!mountinfo.includes(home), 'a mount mentions the test home');
    assert.deepEqual(readdirSync(join(home, 'sandboxes')), []);
    await assert.rejects(
      backend.run(mkSpec(['/bin/true']), { stdin: Buffer.alloc(0), onStdout() {}, onStderr() {} }),
    );
  });
});
