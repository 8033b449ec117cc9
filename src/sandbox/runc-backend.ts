import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { chmod, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { constants } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { AgniError } from '../core/errors.js';
import type {
  Backend,
  BackendStatus,
  SandboxHooks,
  SandboxIO,
  SandboxResult,
  SandboxSpec,
} from './backend.js';
import { readOomKills, removeEmptyPrefix, removeLeftoverCgroups } from './cgroups.js';
import { ensureHostSkeleton, type HostMount } from './host-rootfs.js';
import { buildOciSpec } from './oci-spec.js';
import { defaultSeccompProfile } from './seccomp.js';

const execFileP = promisify(execFile);
const NOBODY = 65534;
const ID_RE = /^[a-z0-9][a-z0-9-]{0,63}$/;

export interface RuncBackendOptions {
  home: string;
  runc?: string;
}

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
    const st = await stat(tmp);
    if (st.isDirectory() && (st.mode & 0o7777) !== 0o1777) await chmod(tmp, 0o1777);
  } catch {
    // no /tmp: runc creates it from the mount's own mode=1777
  }
}

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

  constructor(opts: RuncBackendOptions) {
    const home = resolve(opts.home);
    this.runc = opts.runc ?? 'runc';
    this.stateRoot = join(home, 'run', 'runc');
    this.sandboxesDir = join(home, 'sandboxes');
    this.skeletonDir = join(home, 'host-rootfs');
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

  async run(spec: SandboxSpec, io: SandboxIO, hooks: SandboxHooks = {}): Promise<SandboxResult> {
    if (this.closed) throw new AgniError('sandbox_error', 'the runc backend is shut down');
    if (!ID_RE.test(spec.id)) throw new AgniError('sandbox_error', `invalid sandbox id '${spec.id}'`);
    if (this.active.has(spec.id))
      throw new AgniError('sandbox_error', `sandbox '${spec.id}' is already running`);

    const bundle = join(this.sandboxesDir, spec.id);
    const logFile = join(bundle, 'runc.log');
    let rootfs = resolve(spec.rootfs);
    if (spec.hostRuntime) {
      this.hostMounts ??= ensureHostSkeleton(this.skeletonDir);
      rootfs = this.skeletonDir;
    }
    if (!this.tmpChecked.has(rootfs)) {
      await ensureStickyTmp(rootfs);
      this.tmpChecked.add(rootfs);
    }
    const config = buildOciSpec(spec, {
      rootfs,
      hostMounts: this.hostMounts ?? [],
      uid: NOBODY,
      gid: NOBODY,
      seccomp: defaultSeccompProfile(),
    });
    try {
      await mkdir(bundle, { recursive: true });
      await writeFile(join(bundle, 'config.json'), JSON.stringify(config));
    } catch (e) {
      this.cleanupLater(spec.id, bundle);
      throw new AgniError('sandbox_error', `cannot write sandbox bundle: ${(e as Error).message}`, {
        cause: e,
      });
    }
    hooks.onReady?.();

    const child = spawn(
      this.runc,
      this.runcArgs('--log', logFile, '--log-format', 'json', 'run', '--keep', '--bundle', bundle, spec.id),
      { stdio: ['pipe', 'pipe', 'pipe'] },
    );
    let resolveExit!: () => void;
    const entry: Active = { child, killed: false, exited: new Promise((r) => (resolveExit = r)) };
    this.active.set(spec.id, entry);

    child.stdout?.on('data', (c: Buffer) => io.onStdout(c));
    child.stderr?.on('data', (c: Buffer) => io.onStderr(c));
    child.stdin?.on('error', () => {}); // EPIPE: the function exited without reading all its input
    child.once('spawn', () => {
      hooks.onStarted?.();
      child.stdin?.end(io.stdin);
    });
    const timer = setTimeout(() => void this.kill(spec.id), spec.limits.timeoutMs);

    try {
      const { code, signal, spawnError } = await new Promise<{
        code: number | null;
        signal: NodeJS.Signals | null;
        spawnError?: Error;
      }>((res) => {
        child.once('error', (err) => res({ code: null, signal: null, spawnError: err }));
        child.once('close', (code, signal) => res({ code, signal }));
      });
      if (spawnError) throw new AgniError('sandbox_error', `cannot start runc: ${spawnError.message}`);
      if (entry.killed) return { outcome: 'timeout', exitCode: code, signal: signal ?? 'SIGKILL' };
      // Read before `runc delete`: the counter lives in the leaf cgroup that delete removes.
      const oom = readOomKills(spec.id);
      if (code !== 0 && oom > 0)
        return { outcome: 'oom', exitCode: code, signal: signal ?? signalName(code) };
      if (code === 0) return { outcome: 'ok', exitCode: 0, signal: null };
      const errors = code === null ? [] : await runcErrors(logFile);
      if (errors.length > 0) {
        const msg = errors.join('; ');
        // A missing entrypoint is the function's fault, not the platform's: report it like a shell would.
        if (/exec: .*(not found|no such file|permission denied)/i.test(msg)) {
          io.onStderr(Buffer.from(`${msg}\n`));
          return { outcome: 'failed', exitCode: 127, signal: null };
        }
        throw new AgniError('sandbox_error', `runc failed to run sandbox '${spec.id}': ${msg}`, {
          details: { id: spec.id, exitCode: code },
        });
      }
      return { outcome: 'failed', exitCode: code, signal: signal ?? signalName(code) };
    } finally {
      clearTimeout(timer);
      this.active.delete(spec.id);
      resolveExit();
      this.cleanupLater(spec.id, bundle);
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

  /** Off the critical path: the caller already has its result; shutdown() awaits these. */
  private cleanupLater(id: string, bundle: string): void {
    const p = (async () => {
      try {
        await execFileP(this.runc, this.runcArgs('delete', '--force', id));
      } catch {
        // never created: nothing to delete
      }
      await rm(bundle, { recursive: true, force: true }).catch(() => {});
    })();
    this.cleanups.add(p);
    void p.finally(() => this.cleanups.delete(p));
  }

  async recover(): Promise<number> {
    let count = 0;
    try {
      const { stdout } = await execFileP(this.runc, this.runcArgs('list', '-q'));
      for (const id of stdout.split('\n').map((s) => s.trim())) {
        if (!id || this.active.has(id)) continue;
        await execFileP(this.runc, this.runcArgs('delete', '--force', id)).catch(() => {});
        count++;
      }
    } catch {
      // no state root yet: nothing ran
    }
    try {
      for (const name of await readdir(this.sandboxesDir)) {
        if (this.active.has(name)) continue;
        await rm(join(this.sandboxesDir, name), { recursive: true, force: true });
        count++;
      }
    } catch {
      // no sandboxes dir yet
    }
    return count + removeLeftoverCgroups('agni');
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
