import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chmod, lstat, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { AgniError } from '../core/errors.js';
import { mountOverlayRoot, mountsUnder, type OverlayRoot, unmountPath } from '../image/oci/overlay.js';
import type {
  Backend,
  BackendStatus,
  PreparedSandbox,
  SandboxHooks,
  SandboxIO,
  SandboxResult,
  SandboxSpec,
  WorkerSandbox,
} from './backend.js';
import { readOomKills, removeCgroupLeaves, removeEmptyPrefix, removeLeftoverCgroups } from './cgroups.js';
import { type EgressNamespace, EgressNetwork } from './egress-net.js';
import { parsePool } from './egress-rules.js';
import { ensureHostSkeleton, type HostMount, hostSkeletonDir } from './host-rootfs.js';
import { netnsPrefix, removeLeftoverForwards } from './loopback-forward.js';
import { buildOciSpec } from './oci-spec.js';
import { prepareSandbox } from './runc-prepared.js';
import { startRuncWorker } from './runc-worker.js';
import { defaultSeccompProfile } from './seccomp.js';
import {
  removeLeftoverSecretFiles,
  removeSecretFiles,
  secretsRoot,
  withSecrets,
  writeSecretFiles,
} from './secret-files.js';
import { feedStdin, forwardStdout, onAbort, type StdinFeed, stdinReport } from './stdio.js';
import { workdirError, workdirProblem } from './workdir.js';

const execFileP = promisify(execFile);
const NOBODY = 65534;
const ID_RE = /^[a-z0-9][a-z0-9-]{0,63}$/;

export interface RuncBackendOptions {
  home: string;
  runc?: string;
  /** the addresses of `network: egress` sandboxes, a /30 each (default DEFAULT_EGRESS_POOL) */
  egressPool?: string;
}

/** private, and outside what Agni's own test harnesses (10.231/16) and CNI's default (10.88/16) use */
export const DEFAULT_EGRESS_POOL = '10.89.0.0/16';

interface Active {
  child: ChildProcess;
  killed: boolean;
  exited: Promise<void>;
}

export function signalName(exitCode: number | null): string | null {
  if (exitCode === null || exitCode <= 128 || exitCode > 128 + 64) return null;
  const n = exitCode - 128;
  return Object.entries(constants.signals).find(([, v]) => v === n)?.[0] ?? null;
}

/** runc's own errors, from its JSON log; the user's stderr never lands there. */
async function runcErrors(logFile: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(logFile, 'utf8');
  } catch {
    return [];
  }
  const out: string[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    try {
      const entry = JSON.parse(line) as { level?: string; msg?: string };
      if (entry.level === 'error' || entry.level === 'fatal') out.push(entry.msg ?? line);
    } catch {
      out.push(line);
    }
  }
  return out;
}

/**
 * runc 1.1 copies the mode of an existing mountpoint onto a tmpfs mounted over it, ignoring `mode=`.
 * An image's /tmp that is 0755 would thus make the sandbox's /tmp unwritable for nobody. The dir is
 * only ever a mountpoint (always covered by the per-sandbox tmpfs), so fixing its mode is harmless.
 */
async function ensureStickyTmp(rootfs: string): Promise<void> {
  const tmp = join(rootfs, 'tmp');
  try {
    // lstat: an image's `tmp` may be a symlink (`tmp -> /`), which chmod would follow on the host.
    const st = await lstat(tmp);
    if (st.isDirectory() && (st.mode & 0o7777) !== 0o1777) await chmod(tmp, 0o1777);
  } catch {
    // no /tmp: runc creates it from the mount's own mode=1777
  }
}

/** Removes a bundle dir, unless something is still mounted in it (rm would delete through the mount). */
async function removeBundle(bundle: string): Promise<void> {
  if (mountsUnder(bundle).length > 0) return;
  await rm(bundle, { recursive: true, force: true }).catch(() => {});
}

export interface RuncExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  spawnError?: Error;
}

/** One `runc run` child tracked by the backend (see RuncBackend.spawnSandbox). */
export interface RuncSandbox {
  id: string;
  child: ChildProcess;
  /** resolves when runc exited (or could not be spawned) */
  exit: Promise<RuncExit>;
  /** true once kill() was called: the exit is a timeout (or a deliberate destroy) */
  killed(): boolean;
  /** SIGKILL to the container, retried until runc exits */
  kill(): Promise<void>;
  /** after the exit was classified: untrack, and `runc delete` + bundle removal in the background */
  finish(): void;
  logFile: string;
}

/**
 * The outcome of an exited sandbox: timeout when killed, oom from the leaf cgroup (read before
 * `runc delete`: the counter lives in the leaf), runc's own errors from its JSON log.
 */
export async function outcomeOf(
  sb: RuncSandbox,
  { code, signal, spawnError }: RuncExit,
  io: Pick<SandboxIO, 'onStderr'>,
): Promise<SandboxResult> {
  if (spawnError) throw new AgniError('sandbox_error', `cannot start runc: ${spawnError.message}`);
  if (sb.killed()) return { outcome: 'timeout', exitCode: code, signal: signal ?? 'SIGKILL' };
  const oom = readOomKills(sb.id);
  if (code !== 0 && oom > 0) return { outcome: 'oom', exitCode: code, signal: signal ?? signalName(code) };
  if (code === 0) return { outcome: 'ok', exitCode: 0, signal: null };
  const errors = code === null ? [] : await runcErrors(sb.logFile);
  if (errors.length > 0) {
    const msg = errors.join('; ');
    // A missing entrypoint is the function's fault, not the platform's: report it like a shell would.
    if (/exec: .*(not found|no such file|permission denied)/i.test(msg)) {
      io.onStderr(Buffer.from(`${msg}\n`));
      return { outcome: 'failed', exitCode: 127, signal: null };
    }
    throw new AgniError('sandbox_error', `runc failed to run sandbox '${sb.id}': ${msg}`, {
      details: { id: sb.id, exitCode: code },
    });
  }
  return { outcome: 'failed', exitCode: code, signal: signal ?? signalName(code) };
}

/** how long after a sandbox's answer its teardown begins (see cleanupLater) */
export const TEARDOWN_DELAY_MS = 20;

export class RuncBackend implements Backend {
  readonly name = 'runc' as const;
  readonly isolated = true;
  private readonly runc: string;
  private readonly stateRoot: string;
  private readonly sandboxesDir: string;
  private readonly skeletonDir: string;
  private hostMounts: HostMount[] | undefined;
  private readonly active = new Map<string, Active>();
  private readonly cleanups = new Set<Promise<void>>();
  private closed = false;
  private readonly tmpChecked = new Set<string>();
  /** overlay roots of sandboxes with `layers`, unmounted by cleanupLater before the bundle is removed */
  private readonly overlays = new Map<string, OverlayRoot>();
  /** network namespaces of this home's sandboxes (loopback forwards) start with it */
  private readonly netnsPrefix: string;
  /** sandboxes' /run/secrets dirs, on /dev/shm (src/sandbox/secret-files.ts) */
  private readonly secretsRoot: string;
  /** `network: egress`: namespaces, veths and firewall rules (src/sandbox/egress-net.ts) */
  private readonly egress: EgressNetwork;
  /** egress namespaces of live sandboxes, closed by cleanupLater after `runc delete` */
  private readonly egressOf = new Map<string, EgressNamespace>();

  constructor(opts: RuncBackendOptions) {
    const home = resolve(opts.home);
    this.runc = opts.runc ?? 'runc';
    this.stateRoot = join(home, 'run', 'runc');
    this.sandboxesDir = join(home, 'sandboxes');
    this.skeletonDir = hostSkeletonDir(home);
    this.netnsPrefix = netnsPrefix(home);
    this.secretsRoot = secretsRoot(home);
    const pool = parsePool(opts.egressPool ?? DEFAULT_EGRESS_POOL);
    if (typeof pool === 'string')
      throw new AgniError(
        'bad_request',
        `--egress-pool: expected ${pool}, got ${JSON.stringify(opts.egressPool)}`,
        {
          hint: 'a private range no network of this host uses, e.g. --egress-pool 10.89.0.0/16',
        },
      );
    this.egress = new EgressNetwork(this.netnsPrefix.slice(5, 13), this.netnsPrefix, pool);
  }

  /** The network namespace name of sandbox `id` when it has a loopback forward. */
  netnsName(id: string): string {
    return this.netnsPrefix + id;
  }

  async available(): Promise<BackendStatus> {
    if (process.getuid?.() !== 0) return { ok: false, reason: 'the runc backend must run as root' };
    try {
      await execFileP(this.runc, ['--version']);
    } catch (e) {
      return { ok: false, reason: `runc is not usable (${this.runc}): ${(e as Error).message}` };
    }
    return { ok: true };
  }

  private runcArgs(...args: string[]): string[] {
    return ['--root', this.stateRoot, ...args];
  }

  /** Writes the OCI bundle of `spec`; on failure schedules its cleanup and throws sandbox_error. */
  async writeBundle(spec: SandboxSpec, netns?: string): Promise<{ bundle: string; logFile: string }> {
    if (this.closed) throw new AgniError('sandbox_error', 'the runc backend is shut down');
    if (!ID_RE.test(spec.id)) throw new AgniError('sandbox_error', `invalid sandbox id '${spec.id}'`);
    if (this.active.has(spec.id))
      throw new AgniError('sandbox_error', `sandbox '${spec.id}' is already running`);
    const bundle = join(this.sandboxesDir, spec.id);
    const logFile = join(bundle, 'runc.log');
    const { uid, gid } = spec.user ?? { uid: NOBODY, gid: NOBODY };
    if (uid === 0 || gid === 0)
      throw new AgniError(
        'sandbox_error',
        `sandbox '${spec.id}' would run as uid/gid 0; Agni never runs as root`,
      );
    let rootfs = resolve(spec.rootfs);
    if (spec.hostRuntime) {
      this.hostMounts ??= ensureHostSkeleton(this.skeletonDir);
      rootfs = this.skeletonDir;
    }
    const overlay = !spec.hostRuntime && (spec.layers?.length ?? 0) > 0;
    if (!overlay) await this.checkCwd(spec, rootfs);
    if (!overlay) await this.checkVolumePoints(spec, rootfs);
    if (!overlay && !this.tmpChecked.has(rootfs)) {
      await ensureStickyTmp(rootfs);
      this.tmpChecked.add(rootfs);
    }
    try {
      await mkdir(bundle, { recursive: true });
      if (overlay) {
        const root = await mountOverlayRoot(spec.layers ?? [], bundle);
        this.overlays.set(spec.id, root);
        rootfs = root.merged;
        await ensureStickyTmp(rootfs); // per sandbox: a fix copies up into its own upper dir only
      }
      if (spec.network === 'egress') {
        if (netns)
          throw new AgniError('sandbox_error', `sandbox '${spec.id}': a loopback forward needs network none`);
        const ns = await this.egress.open(this.netnsName(spec.id), spec.allow ?? []);
        this.egressOf.set(spec.id, ns);
        netns = ns.netns;
      }
      let sandboxSpec = spec;
      if ((spec.secrets?.length ?? 0) > 0) {
        const dir = await writeSecretFiles(this.secretsRoot, spec.id, spec.secrets ?? [], { uid, gid });
        sandboxSpec = withSecrets(spec, dir);
      }
      const config = buildOciSpec(sandboxSpec, {
        rootfs,
        hostMounts: this.hostMounts ?? [],
        uid,
        gid,
        seccomp: defaultSeccompProfile(),
        ...(netns ? { netns } : {}),
      });
      await writeFile(join(bundle, 'config.json'), JSON.stringify(config));
    } catch (e) {
      this.cleanupLater(spec.id, bundle);
      if (e instanceof AgniError) throw e;
      throw new AgniError('sandbox_error', `cannot write sandbox bundle: ${(e as Error).message}`, {
        cause: e,
      });
    }
    return { bundle, logFile };
  }

  /**
   * A volume's mount point, like a cwd: runc would MkdirAll a missing one in a root other sandboxes
   * share, so it must exist there already (or be under /tmp, the sandbox's own tmpfs).
   */
  private async checkVolumePoints(spec: SandboxSpec, rootfs: string): Promise<void> {
    const binds = [
      { source: spec.codeDir, destination: '/fn' },
      ...(spec.hostRuntime ? (this.hostMounts ?? []) : []),
      ...(spec.extraMounts ?? []),
    ];
    for (const [i, v] of (spec.volumes ?? []).entries()) {
      const problem = await workdirProblem(v.destination, { root: rootfs, binds });
      if (problem)
        throw new AgniError(
          'manifest_invalid',
          `agni.yaml: field \`volumes[${i}].path\`: ${JSON.stringify(v.destination)} cannot be a mount point: ${problem}`,
          {
            hint: 'use a directory the image has (e.g. /mnt, /srv, /data with the host runtime), or one under /tmp',
            details: { file: 'agni.yaml', field: `volumes[${i}].path` },
          },
        );
    }
  }

  /** runc would MkdirAll a missing cwd in a root other sandboxes share: never let it (src/sandbox/workdir.ts). */
  private async checkCwd(spec: SandboxSpec, rootfs: string): Promise<void> {
    const binds = [
      { source: spec.codeDir, destination: '/fn' },
      ...(spec.hostRuntime ? (this.hostMounts ?? []) : []),
      ...(spec.extraMounts ?? []),
    ];
    const problem = await workdirProblem(spec.cwd, { root: rootfs, binds });
    if (problem) throw workdirError(spec.cwd, problem);
  }

  /**
   * Spawns `runc run --keep` for a written bundle and tracks it, so kill() and shutdown() reach it.
   * `extraFds` pipes are passed to the container as fds 3.. (`--preserve-fds`).
   */
  spawnSandbox(id: string, bundle: string, logFile: string, extraFds = 0): RuncSandbox {
    const preserve = extraFds > 0 ? ['--preserve-fds', String(extraFds)] : [];
    const child = spawn(
      this.runc,
      this.runcArgs(
        '--log',
        logFile,
        '--log-format',
        'json',
        'run',
        '--keep',
        ...preserve,
        '--bundle',
        bundle,
        id,
      ),
      { stdio: ['pipe', 'pipe', 'pipe', ...Array<'pipe'>(extraFds).fill('pipe')] },
    );
    let resolveExit!: () => void;
    const entry: Active = { child, killed: false, exited: new Promise((r) => (resolveExit = r)) };
    this.active.set(id, entry);
    child.stdin?.on('error', () => {}); // EPIPE: the function exited without reading all its input
    const exit = new Promise<RuncExit>((res) => {
      child.once('error', (err) => res({ code: null, signal: null, spawnError: err }));
      child.once('close', (code, signal) => res({ code, signal }));
    });
    const finish = () => {
      this.active.delete(id);
      resolveExit();
      this.cleanupLater(id, bundle);
    };
    return { id, child, exit, killed: () => entry.killed, kill: () => this.kill(id), finish, logFile };
  }

  async run(spec: SandboxSpec, io: SandboxIO, hooks: SandboxHooks = {}): Promise<SandboxResult> {
    const { bundle, logFile } = await this.writeBundle(spec);
    hooks.onReady?.();
    const sb = this.spawnSandbox(spec.id, bundle, logFile);
    const { child } = sb;
    const stdout = forwardStdout(child.stdout, io.onStdout);
    child.once('exit', () => stdout.release());
    child.stderr?.on('data', (c: Buffer) => io.onStderr(c));
    let feed: StdinFeed | undefined;
    child.once('spawn', () => {
      hooks.onStarted?.();
      feed = feedStdin(io.stdin, child.stdin);
    });
    const timer = setTimeout(() => void sb.kill(), spec.limits.timeoutMs);
    const unabort = onAbort(io.signal, () => void sb.kill());
    try {
      const r = await outcomeOf(sb, await sb.exit, io);
      return { ...r, ...stdinReport(io.stdin, feed) };
    } finally {
      clearTimeout(timer);
      unabort();
      feed?.detach();
      sb.finish();
    }
  }

  /** SIGKILL to the container init: the pid namespace, and with it every descendant, dies. */
  private async kill(id: string): Promise<void> {
    const entry = this.active.get(id);
    if (!entry) return;
    entry.killed = true;
    // Retry: the deadline can fire while runc is still creating the container (no state yet).
    while (this.active.get(id) === entry) {
      try {
        await execFileP(this.runc, this.runcArgs('kill', id, 'KILL'));
      } catch {
        // not created yet, or already stopped
      }
      await Promise.race([entry.exited, new Promise((r) => setTimeout(r, 50))]);
    }
  }

  /**
   * Off the critical path: the caller already has its result; shutdown() awaits these. Begun
   * TEARDOWN_DELAY_MS later: each step spawns a program (`runc delete`, `umount`), and a spawn from
   * this process holds its event loop for milliseconds, which held the answer of the very call
   * being torn down (a prewarmed no-op: 2.38x `unshare+chroot`, 1.7x with the delay). The sandbox
   * runs nothing by then; only its files, cgroup, mount and namespace wait.
   */
  private cleanupLater(id: string, bundle: string): void {
    const p = (async () => {
      await new Promise((r) => setTimeout(r, TEARDOWN_DELAY_MS));
      try {
        await execFileP(this.runc, this.runcArgs('delete', '--force', id));
      } catch {
        // never created: nothing to delete
      }
      for (let i = 0; i < 20 && removeCgroupLeaves(id) > 0; i++) await new Promise((r) => setTimeout(r, 50));
      const overlay = this.overlays.get(id);
      this.overlays.delete(id);
      await overlay?.unmount().catch(() => {});
      await removeSecretFiles(this.secretsRoot, id);
      const ns = this.egressOf.get(id);
      this.egressOf.delete(id);
      await ns?.close();
      await removeBundle(bundle);
    })();
    this.cleanups.add(p);
    void p.finally(() => this.cleanups.delete(p));
  }

  async prepare(base: SandboxSpec): Promise<PreparedSandbox> {
    return prepareSandbox(this, base);
  }

  /** A long-lived warm worker sandbox with fds 3 and 4 (src/sandbox/runc-worker.ts). */
  async startWorker(spec: SandboxSpec): Promise<WorkerSandbox> {
    return startRuncWorker(this, spec);
  }

  async recover(): Promise<number> {
    let count = 0;
    /** sandboxes of this home that a crash left: their cgroups are ours to remove */
    const ours = new Set<string>();
    try {
      const { stdout } = await execFileP(this.runc, this.runcArgs('list', '-q'));
      for (const id of stdout.split('\n').map((s) => s.trim())) {
        if (!id || this.active.has(id)) continue;
        ours.add(id);
        await execFileP(this.runc, this.runcArgs('delete', '--force', id)).catch(() => {});
        count++;
      }
    } catch {
      // no state root yet: nothing ran
    }
    try {
      for (const name of await readdir(this.sandboxesDir)) {
        if (this.active.has(name)) continue;
        ours.add(name);
        // a crash can leave a sandbox's overlay root mounted: unmount before removing anything
        for (const mp of mountsUnder(join(this.sandboxesDir, name))) await unmountPath(mp).catch(() => {});
        await removeBundle(join(this.sandboxesDir, name));
        count++;
      }
    } catch {
      // no sandboxes dir yet
    }
    // A crash leaves loopback forwards (namespace and socat) behind: they hold nothing of a live sandbox.
    count += await removeLeftoverForwards(this.netnsPrefix, (name) =>
      this.active.has(name.slice(this.netnsPrefix.length)),
    );
    const liveSlots = this.egress.slotsInUse();
    count += await this.egress.sweep(
      (owner) => !this.active.has(owner.slice(this.netnsPrefix.length)),
      (slot) => !liveSlots.has(slot),
    );
    count += await removeLeftoverSecretFiles(this.secretsRoot, (id) => this.active.has(id));
    return count + removeLeftoverCgroups(ours);
  }

  async shutdown(): Promise<void> {
    this.closed = true;
    const entries = [...this.active.entries()];
    await Promise.all(entries.map(([id]) => this.kill(id)));
    await Promise.all(entries.map(([, e]) => e.exited));
    while (this.cleanups.size > 0) await Promise.all([...this.cleanups]);
    // The shared parent cgroup is removed only when empty, so other Agni instances keep theirs.
    removeEmptyPrefix();
  }
}
