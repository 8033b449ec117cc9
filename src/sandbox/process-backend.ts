import { type ChildProcess, spawn } from 'node:child_process';
import { AgniError } from '../core/errors.js';
import type {
  Backend,
  BackendStatus,
  SandboxHooks,
  SandboxIO,
  SandboxResult,
  SandboxSpec,
  WorkerExit,
  WorkerSandbox,
} from './backend.js';
import { processGroupIdentities } from './proc-snapshot.js';
import { feedStdin, forwardStdout, onAbort, type StdinFeed, stdinReport } from './stdio.js';
import { workerOf } from './worker-sandbox.js';

interface Active {
  child: ChildProcess;
  exited: Promise<void>;
}

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(-pid, 'SIGKILL');
  } catch {
    // group already gone
  }
}

/** No mount namespace, so no /run/secrets: a function that needs secrets needs the runc backend. */
function refuseSecrets(spec: SandboxSpec): void {
  if ((spec.secrets?.length ?? 0) > 0)
    throw new AgniError(
      'backend_unavailable',
      'this function needs secrets (/run/secrets), which the process backend cannot mount',
      {
        hint: 'start the server with `agni up --backend runc` (as root, with runc installed)',
      },
    );
  // A plain process is on the host's network: it cannot be held to an allow list.
  if (spec.network === 'egress')
    throw new AgniError(
      'backend_unavailable',
      'this function has `network: egress`, which the process backend cannot confine (no network namespaces)',
      { hint: 'start the server with `agni up --backend runc` (as root, with runc installed)' },
    );
}

/**
 * No isolation at all: plain child processes, for machines without runc/root (development, CI).
 * Each sandbox is its own process group so a deadline or exit takes all its descendants with it.
 */
export class ProcessBackend implements Backend {
  readonly name = 'process' as const;
  readonly isolated = false;
  private readonly active = new Set<Active>();
  private closed = false;

  async available(): Promise<BackendStatus> {
    return { ok: true };
  }

  async run(spec: SandboxSpec, io: SandboxIO, hooks: SandboxHooks = {}): Promise<SandboxResult> {
    if (this.closed) throw new AgniError('sandbox_error', 'the process backend is shut down');
    refuseSecrets(spec);
    const vols = spec.volumes ?? [];
    const [cmd, ...args] = spec.args.map((a) => mapMountPaths(mapFnPaths(a, spec.codeDir), vols));
    if (cmd === undefined) throw new AgniError('sandbox_error', 'sandbox has no command');
    // Volumes are not mounted: their in-sandbox paths (AGNI_INPUT too) point at the host dirs.
    const env = Object.fromEntries(Object.entries(spec.env).map(([k, v]) => [k, mapMountPaths(v, vols)]));
    hooks.onReady?.();
    const child = spawn(cmd, args, {
      cwd: spec.codeDir, // there is no /fn without a mount namespace
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp', ...env },
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let resolveExit!: () => void;
    const entry: Active = { child, exited: new Promise((r) => (resolveExit = r)) };
    this.active.add(entry);
    let killed = false;

    const stdout = forwardStdout(child.stdout, io.onStdout);
    child.stderr?.on('data', (c: Buffer) => io.onStderr(c));
    child.stdin?.on('error', () => {});
    let feed: StdinFeed | undefined;
    child.once('spawn', () => {
      hooks.onStarted?.();
      feed = feedStdin(io.stdin, child.stdin);
    });
    // Like a pid namespace dying with its init: leftovers must not outlive the main process,
    // and must not keep our stdout pipes open (which would delay 'close' forever).
    child.once('exit', () => {
      killGroup(child.pid);
      stdout.release();
    });
    const kill = () => {
      killed = true;
      killGroup(child.pid);
    };
    const timer = setTimeout(kill, spec.limits.timeoutMs);
    const unabort = onAbort(io.signal, kill);

    try {
      const r = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; err?: Error }>(
        (res) => {
          child.once('error', (err) => res({ code: null, signal: null, err }));
          child.once('close', (code, signal) => res({ code, signal }));
        },
      );
      if (r.err) {
        io.onStderr(Buffer.from(`${cmd}: ${r.err.message}\n`));
        return { outcome: 'failed', exitCode: 127, signal: null, ...stdinReport(io.stdin, feed) };
      }
      const stdin = stdinReport(io.stdin, feed);
      if (killed) return { outcome: 'timeout', exitCode: r.code, signal: r.signal, ...stdin };
      if (r.code === 0) return { outcome: 'ok', exitCode: 0, signal: null, ...stdin };
      return { outcome: 'failed', exitCode: r.code, signal: r.signal, ...stdin };
    } finally {
      clearTimeout(timer);
      unabort();
      feed?.detach();
      this.active.delete(entry);
      resolveExit();
    }
  }

  /** A warm worker: the command with fds 3 and 4, /fn and extraMounts paths pointed at the host dirs. */
  async startWorker(spec: SandboxSpec): Promise<WorkerSandbox> {
    if (this.closed) throw new AgniError('sandbox_error', 'the process backend is shut down');
    refuseSecrets(spec);
    if (spec.loopbackForward)
      throw new AgniError(
        'sandbox_error',
        'the process backend has no network namespaces for a loopback forward',
      );
    const map = (v: string) =>
      mapMountPaths(mapFnPaths(v, spec.codeDir), [...(spec.extraMounts ?? []), ...(spec.volumes ?? [])]);
    const [cmd, ...args] = spec.args.map(map);
    if (cmd === undefined) throw new AgniError('sandbox_error', 'sandbox has no command');
    const env = Object.fromEntries(Object.entries(spec.env).map(([k, v]) => [k, map(v)]));
    const child = spawn(cmd, args, {
      cwd: spec.codeDir,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/tmp', ...env },
      detached: true,
      stdio: ['pipe', 'pipe', 'pipe', 'pipe', 'pipe'],
    });
    let resolveExit!: () => void;
    const entry: Active = { child, exited: new Promise((r) => (resolveExit = r)) };
    this.active.add(entry);
    let killed = false;
    child.once('exit', () => killGroup(child.pid));
    const exited = new Promise<WorkerExit>((res) => {
      child.once('error', (err) =>
        res({ outcome: 'failed', exitCode: 127, signal: null, note: `${cmd}: ${err.message}\n` }),
      );
      child.once('close', (code, signal) => {
        if (killed) res({ outcome: 'timeout', exitCode: code, signal: signal ?? 'SIGKILL' });
        else res({ outcome: code === 0 ? 'ok' : 'failed', exitCode: code, signal });
      });
    }).finally(() => {
      this.active.delete(entry);
      resolveExit();
    });
    // Its processes are its process group: one that leaves it (setsid) escapes, as everything can here.
    const processes = async () => (child.pid === undefined ? [] : processGroupIdentities(child.pid));
    return workerOf(
      spec.id,
      child,
      exited,
      async () => {
        killed = true;
        killGroup(child.pid);
        await exited;
      },
      processes,
    );
  }

  async recover(): Promise<number> {
    return 0; // nothing persistent: process groups die with us or are reaped by init
  }

  async shutdown(): Promise<void> {
    this.closed = true;
    const entries = [...this.active];
    for (const e of entries) killGroup(e.child.pid);
    await Promise.all(entries.map((e) => e.exited));
  }
}

/**
 * Without a mount namespace there is no /fn, so manifests written for the sandbox
 * (`python3 /fn/main.py`, `sh -c "cat /fn/x"`) get /fn paths pointed at the function's directory.
 */
export function mapFnPaths(arg: string, codeDir: string): string {
  return arg.replace(/(^|[\s'"=:;(])\/fn(?=\/|$|[\s'";)])/g, (_m, pre: string) => `${pre}${codeDir}`);
}

/** Without a mount namespace, paths under an extra mount's destination point at its source instead. */
export function mapMountPaths(
  arg: string,
  mounts: readonly { source: string; destination: string }[],
): string {
  let out = arg;
  for (const m of mounts) out = out.split(m.destination).join(m.source);
  return out;
}
