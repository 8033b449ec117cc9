import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ALLOWED_ON_PURPOSE, BLOCKED_SYSCALLS, defaultSeccompProfile, type SeccompArg } from './seccomp.js';

const profile = defaultSeccompProfile();

const matches = (a: SeccompArg, arg: bigint): boolean =>
  a.op === 'SCMP_CMP_EQ' ? arg === BigInt(a.value) : (arg & BigInt(a.value)) === BigInt(a.valueTwo ?? 0);

/** The errno a call gets, as the kernel filter would decide it; undefined: allowed. */
function errnoOf(name: string, arg0 = 0n): number | undefined {
  for (const rule of profile.syscalls) {
    if (!rule.names.includes(name)) continue;
    if ((rule.args ?? []).every((a) => a.index === 0 && matches(a, arg0))) return rule.errnoRet;
  }
  return undefined;
}

const EPERM = 1;
const ENOSYS = 38;

test('default allow, x86 and arm families (the multiarch nodes run arm64 under qemu)', () => {
  assert.equal(profile.defaultAction, 'SCMP_ACT_ALLOW');
  for (const arch of ['SCMP_ARCH_X86_64', 'SCMP_ARCH_AARCH64'])
    assert.ok(profile.architectures.includes(arch));
});

test('clone3 answers ENOSYS so libc falls back to clone, whatever its (unreadable) flags', () => {
  assert.equal(errnoOf('clone3'), ENOSYS);
});

test('clone with any CLONE_NEW* flag is EPERM; threads and fork are not', () => {
  const NEW = {
    NS: 0x20000n,
    CGROUP: 0x02000000n,
    UTS: 0x04000000n,
    IPC: 0x08000000n,
    USER: 0x10000000n,
    PID: 0x20000000n,
    NET: 0x40000000n,
  };
  const SIGCHLD = 17n;
  for (const [ns, flag] of Object.entries(NEW)) {
    assert.equal(errnoOf('clone', flag | SIGCHLD), EPERM, ns);
    assert.equal(errnoOf('clone', flag | NEW.USER | SIGCHLD), EPERM, `${ns}+USER`);
  }
  const THREAD = 0x3d0f00n; // glibc pthread_create: VM|FS|FILES|SIGHAND|THREAD|SYSVSEM|SETTLS|*TID
  assert.equal(errnoOf('clone', THREAD), undefined);
  assert.equal(errnoOf('clone', 0x01200000n | SIGCHLD), undefined); // fork: CHILD_SETTID|CHILD_CLEARTID
  assert.equal(errnoOf('clone', 0x4100n | SIGCHLD), undefined); // vfork|vm (posix_spawn)
});

test('unshare, setns, io_uring, mount API, ptrace family, bpf and obsolete calls are EPERM', () => {
  for (const name of [
    'unshare',
    'setns',
    'io_uring_setup',
    'io_uring_enter',
    'io_uring_register',
    'mount',
    'mount_setattr',
    'open_tree',
    'fsopen',
    'ptrace',
    'kcmp',
    'pidfd_getfd',
    'bpf',
    'userfaultfd',
    'keyctl',
    'quotactl_fd',
    'mbind',
    'set_mempolicy',
    'move_pages',
    'vm86',
    'uselib',
    'ustat',
    'sysfs',
    '_sysctl',
    'nfsservctl',
  ])
    assert.equal(errnoOf(name), EPERM, name);
  assert.equal(new Set(BLOCKED_SYSCALLS).size, BLOCKED_SYSCALLS.length, 'no syscall listed twice');
  for (const name of ALLOWED_ON_PURPOSE) assert.equal(errnoOf(name), undefined, name);
});

test('socket: AF_ALG and AF_VSOCK refused, the usual families not', () => {
  assert.equal(errnoOf('socket', 38n), EPERM);
  assert.equal(errnoOf('socket', 40n), EPERM);
  for (const family of [1n, 2n, 10n, 16n, 17n]) assert.equal(errnoOf('socket', family), undefined);
});

test("personality: moby's allowed personas pass, mitigation-weakening flags do not", () => {
  for (const p of [0n, 8n, 0x20000n, 0x20008n, 0xffffffffn])
    assert.equal(errnoOf('personality', p), undefined);
  for (const p of [
    0x0040000n, // ADDR_NO_RANDOMIZE
    0x0400000n, // READ_IMPLIES_EXEC
    0x0100000n, // MMAP_PAGE_ZERO
    0x0040008n,
    0x80040000n, // bit 31 does not smuggle a flag past the query rule
    0x80000000n,
    0xfffffffen,
    0x100040000n, // the kernel ignores the upper half: the flag is still seen
  ])
    assert.equal(errnoOf('personality', p), EPERM, `0x${p.toString(16)}`);
});
