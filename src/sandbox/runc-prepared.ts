/**
 * Prepared (prewarmed) runc sandboxes. The container is created and started ahead of demand with a
 * tiny gate as its process: host busybox (static) bind-mounted read-only at /.agni/busybox runs a
 * shell script that signals readiness on fd 3, then blocks reading KEY=VALUE lines from fd 3 until
 * an empty line, exports them, closes fd 3 and execs the function's command. An invocation thus
 * pays one exec instead of the whole container creation.
 */
import type { Duplex } from 'node:stream';
import { envLines } from '../core/env-lines.js';
import { AgniError } from '../core/errors.js';
import type { PreparedSandbox, PreparedStart, SandboxIO, SandboxResult, SandboxSpec } from './backend.js';
import { outcomeOf, type RuncBackend, type RuncExit, type RuncSandbox } from './runc-backend.js';
import { feedStdin, forwardStdout, onAbort, type StdinFeed, stdinReport } from './stdio.js';

export const HOST_BUSYBOX = '/bin/busybox';
export const GATE_PATH = '/.agni/busybox';

/** The end of a busybox wrapper: exec "$@", looking a bare name up in PATH (shared with secret-files.ts). */
export const EXEC_ARGS_SCRIPT = `case $1 in
*/*) ;;
*)
  c=$1; IFS=:
  for d in \${PATH:-/usr/bin:/bin}; do
    if [ -f "$d/$c" ] && [ -x "$d/$c" ]; then shift; p=$d/$c; unset IFS d; exec -a "$c" "$p" "$@"; fi
  done
  echo "agni: exec: $c: not found" >&2; exit 127 ;;
esac
exec "$@"
`;

/**
 * busybox ash. Variables ash adds itself (SHLVL, PWD) are removed so the function sees exactly
 * the spec's environment (values the spec sets for them are re-sent on fd 3). busybox prefers its
 * applets over PATH for `exec name`, so names without a slash are looked up in PATH here, and the
 * program keeps its name as argv[0]. EOF on fd 3 (the pool let go) exits without running anything.
 */
export const GATE_SCRIPT = `unset SHLVL PWD OLDPWD
echo >&3 || exit 111
while IFS= read -r l <&3 || exit 111; do
  [ -z "$l" ] && break
  export "$l"
done
exec 3<&-
unset l
${EXEC_ARGS_SCRIPT}`;

const SHELL_SET = ['SHLVL', 'PWD', 'OLDPWD'];

/** The lines the gate reads on fd 3. Values cannot hold a newline (the gate reads by line). */
export function gateInput(env: Record<string, string>): string {
  try {
    return `${envLines(env)}\n`;
  } catch (e) {
    throw new AgniError('sandbox_error', `prepared sandbox: ${(e as Error).message}`);
  }
}

/** `base` wrapped in the gate: same sandbox, but its process waits on fd 3 first. */
export function gatedSpec(base: SandboxSpec, busybox = HOST_BUSYBOX): SandboxSpec {
  return {
    ...base,
    args: [GATE_PATH, 'sh', '-c', GATE_SCRIPT, 'agni-gate', ...base.args],
    extraMounts: [...(base.extraMounts ?? []), { source: busybox, destination: GATE_PATH }],
  };
}

type State = 'preparing' | 'waiting' | 'started' | 'dead';

class RuncPrepared implements PreparedSandbox {
  private state: State = 'preparing';
  private readonly gate: Duplex;
  private readonly lost: (() => void)[] = [];
  private out: SandboxIO['onStdout'] | undefined;
  private err: ((c: Buffer) => void) | undefined;
  /** stderr before start: only runc or the gate write there; kept for the error message */
  private early = '';
  /** resolves once the runc child is gone and finish() was called (by whoever owned the exit) */
  private readonly done: Promise<void>;
  readonly ready: Promise<void>;

  constructor(
    private readonly sb: RuncSandbox,
    private readonly shellEnv: Record<string, string>,
  ) {
    const child = sb.child;
    this.gate = child.stdio[3] as Duplex;
    this.gate.on('error', () => {}); // the container is gone: its exit is handled below
    const stdout = forwardStdout(child.stdout, (c) => this.out?.(c));
    child.once('exit', () => stdout.release());
    child.stderr?.on('data', (c: Buffer) => {
      if (this.err) this.err(c);
      else if (this.early.length < 4096) this.early += c.toString();
    });
    let onReady!: () => void;
    let onFail!: (e: Error) => void;
    this.ready = new Promise<void>((res, rej) => {
      onReady = res;
      onFail = rej;
    });
    this.gate.once('data', () => {
      if (this.state !== 'preparing') return;
      this.state = 'waiting';
      onReady();
    });
    this.done = sb.exit.then(async (exit) => {
      if (this.state === 'started') return; // start() classifies and finishes
      const was = this.state;
      this.state = 'dead';
      try {
        if (was === 'preparing') onFail(await this.earlyExitError(exit));
        else for (const cb of this.lost.splice(0)) cb();
      } finally {
        sb.finish();
      }
    });
  }

  private async earlyExitError(exit: RuncExit): Promise<AgniError> {
    let why: string;
    try {
      const r = await outcomeOf(this.sb, exit, { onStderr: () => {} });
      why = `${r.outcome}, exit code ${r.exitCode}${this.early ? `: ${this.early.trim()}` : ''}`;
    } catch (e) {
      why = (e as Error).message;
    }
    return new AgniError(
      'sandbox_error',
      `prepared sandbox '${this.sb.id}' exited before it was used (${why})`,
    );
  }

  get id(): string {
    return this.sb.id;
  }

  get waiting(): boolean {
    return this.state === 'waiting';
  }

  onLost(cb: () => void): void {
    if (this.state === 'dead') cb();
    else this.lost.push(cb);
  }

  async start(s: PreparedStart): Promise<SandboxResult> {
    if (this.state !== 'waiting')
      throw new AgniError('sandbox_error', `prepared sandbox '${this.id}' is ${this.state}, not waiting`);
    this.state = 'started';
    const { sb } = this;
    this.out = (c) => s.io.onStdout(c);
    this.err = (c) => s.io.onStderr(c);
    const timer = setTimeout(() => void sb.kill(), Math.max(0, s.deadline - Date.now()));
    const unabort = onAbort(s.io.signal, () => void sb.kill());
    let feed: StdinFeed | undefined;
    try {
      const env = { ...s.env };
      for (const k of SHELL_SET) if (k in this.shellEnv) env[k] = this.shellEnv[k]!;
      this.gate.end(gateInput(env));
      s.hooks?.onStarted?.();
      feed = feedStdin(s.stdin, sb.child.stdin);
      const r = await outcomeOf(sb, await sb.exit, s.io);
      return { ...r, ...stdinReport(s.stdin, feed) };
    } finally {
      clearTimeout(timer);
      unabort();
      feed?.detach();
      sb.finish();
    }
  }

  async destroy(): Promise<void> {
    if (this.state === 'started') return;
    if (this.state !== 'dead') {
      this.gate.destroy(); // EOF: the gate exits by itself; the kill makes sure
      await this.sb.kill();
    }
    await this.done;
  }
}

/** Writes the bundle, starts the gated container and resolves once the gate is waiting. */
export async function prepareSandbox(
  rt: Pick<RuncBackend, 'writeBundle' | 'spawnSandbox'>,
  base: SandboxSpec,
  busybox = HOST_BUSYBOX,
): Promise<PreparedSandbox> {
  const spec = gatedSpec(base, busybox);
  const { bundle, logFile } = await rt.writeBundle(spec);
  const p = new RuncPrepared(rt.spawnSandbox(spec.id, bundle, logFile, 1), base.env);
  await p.ready;
  return p;
}
