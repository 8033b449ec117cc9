/**
 * Default seccomp profile. A denylist rather than Docker-style allowlist: it is short enough to audit
 * at a glance and never breaks a language runtime that uses an unusual-but-harmless syscall. The
 * sandbox already has no capabilities and no_new_privs, so this list only closes kernel attack
 * surface that is reachable without privileges, above all through a new user namespace (in which a
 * process would hold every capability). Reviewed against moby's default profile
 * (profiles/seccomp/default.json): everything it denies to a container without capabilities is
 * denied here too, except where noted under ALLOWED_ON_PURPOSE; some things it allows (ptrace,
 * name_to_handle_at, adjtimex) stay denied. Every group says why.
 */
export interface SeccompArg {
  index: number;
  /** for SCMP_CMP_MASKED_EQ: the mask */
  value: number;
  /** for SCMP_CMP_MASKED_EQ: what the masked argument must equal */
  valueTwo?: number;
  op: 'SCMP_CMP_EQ' | 'SCMP_CMP_MASKED_EQ';
}

export interface SeccompRule {
  names: string[];
  action: string;
  errnoRet?: number;
  /** all must match (AND); separate rules for one syscall are alternatives (OR) */
  args?: SeccompArg[];
}

export interface SeccompProfile {
  defaultAction: string;
  architectures: string[];
  syscalls: SeccompRule[];
}

const DENIED: readonly (readonly [names: readonly string[], why: string])[] = [
  [['unshare', 'setns'], 'new or foreign namespaces: a user namespace hands out every capability'],
  [
    [
      'mount',
      'umount',
      'umount2',
      'pivot_root',
      'chroot',
      'move_mount',
      'fsopen',
      'fsconfig',
      'fsmount',
      'fspick',
      'open_tree',
      'mount_setattr',
    ],
    'the root and its read-only binds are fixed by the platform',
  ],
  [
    ['ptrace', 'process_vm_readv', 'process_vm_writev', 'kcmp', 'pidfd_getfd', 'process_madvise'],
    "reading or steering another process's memory, fds or kernel objects",
  ],
  [
    [
      'kexec_load',
      'kexec_file_load',
      'init_module',
      'finit_module',
      'delete_module',
      'create_module',
      'query_module',
      'get_kernel_syms',
      'reboot',
      'swapon',
      'swapoff',
      'acct',
    ],
    'host-wide: kernel code, power, swap, process accounting',
  ],
  [
    [
      'bpf',
      'perf_event_open',
      'userfaultfd',
      'io_uring_setup',
      'io_uring_enter',
      'io_uring_register',
      'keyctl',
      'add_key',
      'request_key',
      'lookup_dcookie',
    ],
    'large kernel attack surface with a history of privilege escalations; runtimes fall back',
  ],
  [['open_by_handle_at', 'name_to_handle_at'], 'file handles bypass path lookup and so the mount jail'],
  [
    [
      'settimeofday',
      'stime',
      'clock_settime',
      'clock_settime64',
      'clock_adjtime',
      'clock_adjtime64',
      'adjtimex',
    ],
    'the clock is the host',
  ],
  [
    [
      'syslog',
      'iopl',
      'ioperm',
      'vm86',
      'vm86old',
      'fanotify_init',
      'quotactl',
      'quotactl_fd',
      'vhangup',
      'sethostname',
      'setdomainname',
      'lsm_get_self_attr',
      'lsm_set_self_attr',
      'lsm_list_modules',
    ],
    'host devices, kernel log, quotas, names and security modules: capability-only in moby',
  ],
  [
    ['mbind', 'set_mempolicy', 'get_mempolicy', 'migrate_pages', 'move_pages', 'set_mempolicy_home_node'],
    'NUMA placement is CAP_SYS_NICE in moby; runtimes treat EPERM as "no NUMA"',
  ],
  [['_sysctl', 'sysfs', 'ustat', 'uselib', 'nfsservctl'], 'obsolete: nothing current needs them'],
];

/**
 * Allowed although moby's review could suggest otherwise, each for a reason:
 * memfd_secret (memory hidden even from the kernel's direct map: the caller's own, off by default),
 * pkey_alloc/pkey_mprotect/pkey_free (protect the caller's own pages), seccomp (can only add
 * filters under no_new_privs), listmount/statmount (read the sandbox's own mount table),
 * socketcall on 32-bit x86 (its socket family sits behind a pointer; moby allows it too).
 */
export const ALLOWED_ON_PURPOSE: readonly string[] = [
  'memfd_secret',
  'pkey_alloc',
  'pkey_mprotect',
  'pkey_free',
  'seccomp',
  'listmount',
  'statmount',
  'socketcall',
];

export const BLOCKED_SYSCALLS: readonly string[] = DENIED.flatMap(([names]) => names);

const EPERM = 1;
const ENOSYS = 38;

/** The single bits of a 32-bit mask (numbers, not int32: bit 31 stays positive). */
function bits(mask: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < 32; i++) if (Math.floor(mask / 2 ** i) % 2 === 1) out.push(2 ** i);
  return out;
}

/** CLONE_NEWNS|NEWCGROUP|NEWUTS|NEWIPC|NEWUSER|NEWPID|NEWNET: the mask moby's profile uses. */
export const CLONE_NAMESPACE_FLAGS = 0x7e020000;

/** One rule per namespace flag: `clone` is refused when any of them is set (rules are ORed). */
function cloneRules(): SeccompRule[] {
  return bits(CLONE_NAMESPACE_FLAGS).map((bit) => ({
    names: ['clone'],
    action: 'SCMP_ACT_ERRNO',
    errnoRet: EPERM,
    args: [{ index: 0, value: bit, valueTwo: bit, op: 'SCMP_CMP_MASKED_EQ' }],
  }));
}

/** AF_ALG (kernel crypto sockets, a frequent source of bugs) and AF_VSOCK (to the hypervisor). */
const DENIED_SOCKET_FAMILIES = [38, 40];

/**
 * personality(2): moby allows only Linux (0), PER_LINUX32 (8), UNAME26 (0x20000), both, and the
 * query 0xffffffff. The flags above bit 17 (ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC, MMAP_PAGE_ZERO, ...)
 * switch off the mitigations exploits have to defeat: refused. runc 1.1 with libseccomp 2.5 does not
 * AND several tests of one argument (five SCMP_CMP_NE in one rule refused every value), so the
 * allowlist is written as single-bit rules: a flag bit (8..30 but 17) set while bit 31 is clear,
 * or bit 31 set while any other bit is clear (only the query sets it).
 */
const PERSONA_FLAG_BITS = 0x7ffdff00;
const PERSONA_QUERY_BIT = 0x80000000;

function personalityRules(): SeccompRule[] {
  const rule = (mask: number, value: number): SeccompRule => ({
    names: ['personality'],
    action: 'SCMP_ACT_ERRNO',
    errnoRet: EPERM,
    args: [{ index: 0, value: mask, valueTwo: value, op: 'SCMP_CMP_MASKED_EQ' }],
  });
  return [
    ...bits(PERSONA_FLAG_BITS).map((b) => rule(b + PERSONA_QUERY_BIT, b)),
    ...bits(PERSONA_QUERY_BIT - 1).map((b) => rule(b + PERSONA_QUERY_BIT, PERSONA_QUERY_BIT)),
  ];
}

export function defaultSeccompProfile(): SeccompProfile {
  return {
    defaultAction: 'SCMP_ACT_ALLOW',
    architectures: [
      'SCMP_ARCH_X86_64',
      'SCMP_ARCH_X86',
      'SCMP_ARCH_X32',
      'SCMP_ARCH_AARCH64',
      'SCMP_ARCH_ARM',
    ],
    // EPERM rather than kill: runtimes probe for features (e.g. unshare) and must degrade gracefully.
    syscalls: [
      { names: [...BLOCKED_SYSCALLS], action: 'SCMP_ACT_ERRNO', errnoRet: EPERM },
      // clone3's flags sit behind a pointer seccomp cannot read: ENOSYS makes libc fall back to
      // clone, whose flags it can (glibc, musl and Go all do), so threads and fork keep working.
      { names: ['clone3'], action: 'SCMP_ACT_ERRNO', errnoRet: ENOSYS },
      ...cloneRules(),
      ...DENIED_SOCKET_FAMILIES.map(
        (family): SeccompRule => ({
          names: ['socket'],
          action: 'SCMP_ACT_ERRNO',
          errnoRet: EPERM,
          args: [{ index: 0, value: family, op: 'SCMP_CMP_EQ' }],
        }),
      ),
      ...personalityRules(),
    ],
  };
}
