/**
 * Default seccomp profile. A denylist rather than Docker-style allowlist: it is short enough to audit
 * at a glance and never breaks a language runtime that uses an unusual-but-harmless syscall. The
 * sandbox already has no capabilities and no_new_privs, so this list only closes kernel attack
 * surface that is reachable without privileges (or would become reachable via user namespaces).
 */
export interface SeccompProfile {
  defaultAction: string;
  architectures: string[];
  syscalls: { names: string[]; action: string; errnoRet?: number }[];
}

export const BLOCKED_SYSCALLS: readonly string[] = [
  'mount',
  'umount2',
  'pivot_root',
  'chroot',
  'ptrace',
  'process_vm_readv',
  'process_vm_writev',
  'kexec_load',
  'kexec_file_load',
  'init_module',
  'finit_module',
  'delete_module',
  'reboot',
  'swapon',
  'swapoff',
  'bpf',
  'perf_event_open',
  'keyctl',
  'add_key',
  'request_key',
  'unshare',
  'setns',
  'open_by_handle_at',
  'name_to_handle_at',
  'userfaultfd',
  'acct',
  'settimeofday',
  'clock_settime',
  'clock_adjtime',
  'adjtimex',
  'syslog',
  'quotactl',
  'lookup_dcookie',
  'iopl',
  'ioperm',
  'fanotify_init',
  'move_mount',
  'fsopen',
  'fsconfig',
  'fsmount',
  'fspick',
  'open_tree',
];

const EPERM = 1;

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
    syscalls: [{ names: [...BLOCKED_SYSCALLS], action: 'SCMP_ACT_ERRNO', errnoRet: EPERM }],
  };
}
