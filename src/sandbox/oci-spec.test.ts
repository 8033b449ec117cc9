import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SandboxSpec } from './backend.js';
import { buildOciSpec, DEFAULT_PATH } from './oci-spec.js';
import { BLOCKED_SYSCALLS, defaultSeccompProfile } from './seccomp.js';

const spec = (over: Partial<SandboxSpec> = {}): SandboxSpec => ({
  id: 'abc-1',
  rootfs: '/images/x',
  hostRuntime: false,
  codeDir: '/code/fn1',
  args: ['/bin/sh', '-c', 'echo hi'],
  env: { AGNI_FUNCTION: 'f' },
  cwd: '/fn',
  limits: { memoryBytes: 64 * 1024 * 1024, cpus: 0.5, pids: 64, timeoutMs: 1000 },
  network: 'none',
  ...over,
});
const ctx = {
  rootfs: '/images/x',
  hostMounts: [
    { source: '/usr', destination: '/usr' },
    { source: '/etc/ld.so.cache', destination: '/etc/ld.so.cache' },
  ],
  uid: 65534,
  gid: 65534,
  seccomp: defaultSeccompProfile(),
};

// biome-ignore lint/suspicious/noExplicitAny: the OCI config is untyped JSON
const build = (s: SandboxSpec): any => buildOciSpec(s, ctx);

test('no capabilities, no new privileges, nobody user', () => {
  const c = build(spec());
  for (const set of ['bounding', 'effective', 'inheritable', 'permitted', 'ambient']) {
    assert.deepEqual(c.process.capabilities[set], []);
  }
  assert.equal(c.process.noNewPrivileges, true);
  assert.deepEqual(c.process.user, { uid: 65534, gid: 65534 });
  assert.equal(c.process.terminal, false);
});

test('read-only root and read-only /fn bind of the code dir; writable tmpfs /tmp', () => {
  const c = build(spec());
  assert.deepEqual(c.root, { path: '/images/x', readonly: true });
  const fn = c.mounts.find((m: { destination: string }) => m.destination === '/fn');
  assert.equal(fn.source, '/code/fn1');
  assert.ok(fn.options.includes('ro') && fn.options.includes('rbind'));
  const tmp = c.mounts.find((m: { destination: string }) => m.destination === '/tmp');
  assert.equal(tmp.type, 'tmpfs');
});

test('network namespace only when network is none', () => {
  const has = (c: { linux: { namespaces: { type: string }[] } }) =>
    c.linux.namespaces.some((n) => n.type === 'network');
  assert.equal(has(build(spec())), true);
  assert.equal(has(build(spec({ network: 'host' }))), false);
  const types = build(spec()).linux.namespaces.map((n: { type: string }) => n.type);
  for (const t of ['pid', 'ipc', 'uts', 'mount']) assert.ok(types.includes(t));
});

test('resource limits math and cgroups path', () => {
  const c = build(spec());
  assert.deepEqual(c.linux.resources.memory, { limit: 67108864, swap: 67108864 });
  assert.deepEqual(c.linux.resources.cpu, { period: 100000, quota: 50000 });
  assert.deepEqual(c.linux.resources.pids, { limit: 64 });
  assert.equal(build(spec({ limits: { ...spec().limits, cpus: 1.337 } })).linux.resources.cpu.quota, 133700);
  assert.equal(c.linux.cgroupsPath, '/agni/abc-1');
  assert.deepEqual(c.linux.resources.devices[0], { allow: false, access: 'rwm' });
});

test('env gets PATH and HOME defaults but keeps explicit values', () => {
  const c = build(spec());
  assert.ok(c.process.env.includes('AGNI_FUNCTION=f'));
  assert.ok(c.process.env.includes(DEFAULT_PATH));
  assert.ok(c.process.env.includes('HOME=/tmp'));
  const c2 = build(spec({ env: { PATH: '/x' } }));
  assert.deepEqual(
    c2.process.env.filter((e: string) => e.startsWith('PATH=')),
    ['PATH=/x'],
  );
});

test('host mounts only for the host runtime, all read-only', () => {
  const dests = (c: { mounts: { destination: string }[] }) => c.mounts.map((m) => m.destination);
  assert.ok(!dests(build(spec())).includes('/usr'));
  const c = build(spec({ hostRuntime: true }));
  const usr = c.mounts.find((m: { destination: string }) => m.destination === '/usr');
  assert.ok(usr.options.includes('ro'));
  assert.ok(dests(c).includes('/etc/ld.so.cache'));
});

test('seccomp denylist returns EPERM; personality is filtered by argument only', () => {
  const s = build(spec()).linux.seccomp;
  assert.equal(s.defaultAction, 'SCMP_ACT_ALLOW');
  assert.equal(s.syscalls[0].action, 'SCMP_ACT_ERRNO');
  assert.equal(s.syscalls[0].errnoRet, 1);
  for (const name of ['mount', 'unshare', 'setns', 'bpf', 'ptrace'])
    assert.ok(s.syscalls[0].names.includes(name));
  assert.ok(!BLOCKED_SYSCALLS.includes('personality'));
});

test('extra mounts are read-only binds', () => {
  const withExtra = { ...spec(), extraMounts: [{ source: '/bin/busybox', destination: '/.agni/busybox' }] };
  const cfg = buildOciSpec(withExtra, ctx) as {
    mounts: { destination: string; options?: string[] }[];
  };
  const m = cfg.mounts.find((x) => x.destination === '/.agni/busybox');
  assert.ok(m?.options?.includes('ro'));
});

test('a prepared network namespace is joined by path; without one a fresh one is made', () => {
  const network = (c: Record<string, unknown>) =>
    (c.linux as { namespaces: { type: string }[] }).namespaces.filter((n) => n.type === 'network');
  assert.deepEqual(network(buildOciSpec(spec(), { ...ctx, netns: '/run/netns/agni-x' })), [
    { type: 'network', path: '/run/netns/agni-x' },
  ]);
  assert.deepEqual(network(buildOciSpec(spec(), ctx)), [{ type: 'network' }]);
  // egress joins its prepared namespace; without one it would silently be network none: refused
  const egress = spec({ network: 'egress' });
  assert.deepEqual(network(buildOciSpec(egress, { ...ctx, netns: '/run/netns/agni-e' })), [
    { type: 'network', path: '/run/netns/agni-e' },
  ]);
  assert.throws(() => buildOciSpec(egress, ctx), /network egress needs its namespace/);
});

test('volumes: read-only ones recursively (rro), rw only as asked, after /tmp, nosuid and nodev', () => {
  const c = build(
    spec({
      volumes: [
        { source: '/srv/data', destination: '/data', readOnly: true },
        { source: '/srv/scratch', destination: '/tmp/out', readOnly: false },
      ],
    }),
  );
  const dests: string[] = c.mounts.map((m: { destination: string }) => m.destination);
  const data = c.mounts.find((m: { destination: string }) => m.destination === '/data');
  const out = c.mounts.find((m: { destination: string }) => m.destination === '/tmp/out');
  assert.deepEqual(data, {
    destination: '/data',
    type: 'bind',
    source: '/srv/data',
    options: ['rbind', 'ro', 'rro', 'nosuid', 'nodev'],
  });
  assert.deepEqual(out.options, ['rbind', 'rw', 'nosuid', 'nodev']);
  // a mount point under /tmp is made in the sandbox's own tmpfs, so /tmp comes first
  assert.ok(dests.indexOf('/tmp') < dests.indexOf('/tmp/out'));
});
