import type { SandboxSpec } from './backend.js';
import type { HostMount } from './host-rootfs.js';
import type { SeccompProfile } from './seccomp.js';

export interface OciContext {
  /** absolute path of the root filesystem (spec.rootfs or the host skeleton) */
  rootfs: string;
  /** extra read-only binds for the `host` runtime; ignored unless spec.hostRuntime */
  hostMounts: HostMount[];
  uid: number;
  gid: number;
  seccomp: SeccompProfile;
  /** path of a network namespace made beforehand (/run/netns/NAME) to join: a loopback forward's, or egress's */
  netns?: string;
}

export interface OciMount {
  destination: string;
  type: string;
  source: string;
  options?: string[];
}

export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const CPU_PERIOD = 100_000;

// Same as `runc spec`: hide kernel interfaces that leak host info or allow host-wide actions.
const MASKED_PATHS = [
  '/proc/acpi',
  '/proc/asound',
  '/proc/kcore',
  '/proc/keys',
  '/proc/latency_stats',
  '/proc/timer_list',
  '/proc/timer_stats',
  '/proc/sched_debug',
  '/sys/firmware',
  '/proc/scsi',
];
const READONLY_PATHS = ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'];

const charDev = (major: number, minor: number | undefined) => ({
  allow: true,
  type: 'c',
  major,
  ...(minor === undefined ? {} : { minor }),
  access: 'rwm',
});

// Deny all, then allow the devices every process expects (runc's own default allow list).
const DEVICES = [
  { allow: false, access: 'rwm' },
  charDev(1, 3), // null
  charDev(1, 5), // zero
  charDev(1, 7), // full
  charDev(1, 8), // random
  charDev(1, 9), // urandom
  charDev(5, 0), // tty
  charDev(5, 2), // ptmx
  charDev(136, undefined), // pts/*
];

function baseMounts(): OciMount[] {
  return [
    { destination: '/proc', type: 'proc', source: 'proc' },
    {
      destination: '/dev',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'],
    },
    {
      destination: '/dev/pts',
      type: 'devpts',
      source: 'devpts',
      options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'],
    },
    {
      destination: '/dev/shm',
      type: 'tmpfs',
      source: 'shm',
      options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'],
    },
    { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
    { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
    {
      destination: '/sys/fs/cgroup',
      type: 'cgroup',
      source: 'cgroup',
      options: ['nosuid', 'noexec', 'nodev', 'relatime', 'ro'],
    },
    // Fresh per sandbox: the root is read-only, so this is the only writable scratch space.
    {
      destination: '/tmp',
      type: 'tmpfs',
      source: 'tmpfs',
      options: ['nosuid', 'nodev', 'mode=1777', 'size=64m'],
    },
  ];
}

const roBind = (source: string, destination: string): OciMount => ({
  destination,
  type: 'bind',
  source,
  options: ['rbind', 'ro', 'nosuid', 'nodev'],
});

/**
 * A volume: `rro` makes a read-only bind read-only recursively (mount_setattr), so a filesystem
 * mounted below the volume's host directory is not writable through it either.
 */
const volumeBind = (v: { source: string; destination: string; readOnly: boolean }): OciMount => ({
  destination: v.destination,
  type: 'bind',
  source: v.source,
  options: v.readOnly ? ['rbind', 'ro', 'rro', 'nosuid', 'nodev'] : ['rbind', 'rw', 'nosuid', 'nodev'],
});

function envList(env: Record<string, string>): string[] {
  const list = Object.entries(env).map(([k, v]) => `${k}=${v}`);
  if (!('PATH' in env)) list.push(DEFAULT_PATH);
  if (!('HOME' in env)) list.push('HOME=/tmp');
  return list;
}

/** Builds the OCI runtime config.json for one sandbox. Pure: no I/O, same input → same output. */
export function buildOciSpec(spec: SandboxSpec, ctx: OciContext): Record<string, unknown> {
  // A prepared namespace (with its loopback forward) is joined instead of a fresh one.
  const network = ctx.netns ? { type: 'network', path: ctx.netns } : { type: 'network' };
  // Egress without its prepared namespace would silently be network none: a caller's bug.
  if (spec.network === 'egress' && !ctx.netns)
    throw new Error(`sandbox '${spec.id}': network egress needs its namespace`);
  const mounts = baseMounts();
  mounts.push(roBind(spec.codeDir, '/fn'));
  if (spec.hostRuntime) for (const m of ctx.hostMounts) mounts.push(roBind(m.source, m.destination));
  for (const m of spec.extraMounts ?? []) mounts.push(roBind(m.source, m.destination));
  // After /tmp (a mount point under it is made in the fresh tmpfs) and the platform's own binds.
  for (const v of spec.volumes ?? []) mounts.push(volumeBind(v));

  const namespaces: { type: string; path?: string }[] = [
    { type: 'pid' },
    { type: 'ipc' },
    { type: 'uts' },
    { type: 'mount' },
  ];
  if (spec.network !== 'host') namespaces.push(network);

  const { memoryBytes, cpus, pids } = spec.limits;
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: ctx.uid, gid: ctx.gid },
      args: spec.args,
      env: envList(spec.env),
      cwd: spec.cwd,
      capabilities: { bounding: [], effective: [], inheritable: [], permitted: [], ambient: [] },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: true,
    },
    // A writable root is only ever an overlay's throw-away upper: never an imported image shared by sandboxes.
    root: { path: ctx.rootfs, readonly: !(spec.writableRoot && (spec.layers?.length ?? 0) > 0) },
    hostname: 'agni',
    mounts,
    linux: {
      resources: {
        devices: DEVICES,
        // swap == limit: memory+swap total equals memory, i.e. no swap, so a bomb is OOM-killed promptly.
        memory: { limit: memoryBytes, swap: memoryBytes },
        cpu: { period: CPU_PERIOD, quota: Math.max(1000, Math.round(cpus * CPU_PERIOD)) },
        pids: { limit: pids },
      },
      cgroupsPath: `/agni/${spec.id}`,
      namespaces,
      maskedPaths: MASKED_PATHS,
      readonlyPaths: READONLY_PATHS,
      seccomp: ctx.seccomp,
    },
  };
}
