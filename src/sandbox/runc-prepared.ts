/**
 * Prepared (prewarmed) runc sandboxes. The container is created and started ahead of demand with a
 * tiny gate as its process: host busybox (static) bind-mounted read-only at /.agni/busybox runs a
 * shell script that signals readiness on fd 3, then blocks reading KEY=VALUE lines from fd 3 until
 * an empty line, exports them and runs the function's command in a child (fd 3 closed for it). An
 * invocation thus pays one fork and exec instead of the whole container creation.
 *
 * When the function exits, the gate kills whatever it left behind and writes `exit N` on fd 3: the
 * result is known (and the output drained) without waiting for runc to notice the exit, reap, and
 * tear down, which took about half of a prewarmed call. runc's exit, `runc delete`, the cgroup and
 * the mounts are finished after the answer; the backend tracks them and its shutdown awaits them.
 */
import { readSync } from 'node:fs';
import type { Duplex, Readable } from 'node:stream';
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
 * The function's stdout and stderr are fds 4 and 5, sockets of the server's own that runc passes
 * through untouched: runc copies the container's fds 1 and 2 through goroutines of its own, which
 * can deliver output after the exit line below (that lost the tail of an answer under load).
 * The function runs in a subshell (it execs itself away) so the gate, still pid 1, sees it exit:
 * like a function that is pid 1 itself, whatever it leaves running dies with it (`kill -9 -1`
 * spares only the gate), then the status goes out on fd 3 before the gate exits with it.
 */
export const GATE_SCRIPT = `unset SHLVL PWD OLDPWD
echo >&3 || exit 111
while IFS= read -r l <&3 || exit 111; do
  [ -z "$l" ] && break
  export "$l"
done
unset l
(
${EXEC_ARGS_SCRIPT}) 3<&- >&4 2>&5 4>&- 5>&-
s=$?
kill -9 -1 2>/dev/null
echo "exit $s" >&3
exit $s
`;

/** what the gate writes on fd 3 once the function exited */
const EXIT_LINE = /exit (\d+)\n/;

/** The fd behind a child's stdio pipe, to drain what is left in it without waiting for EOF. */
function pipeFd(stream: Readable | null): number | undefined {
  const fd = (stream as unknown as { _handle?: { fd?: number } } | null)?._handle?.fd;
  return typeof fd === 'number' && fd >= 0 ? fd : undefined;
}

/**
 * Reads what `stream`'s pipe holds now into `sink`, up to EAGAIN (nothing more yet) or EOF. After
 * the gate reported the exit, the sandbox has nothing left that writes there: what is in the pipe
 * is all there is. False when that cannot be done safely (the stream is paused by its consumer, or
 * holds unread chunks): the caller then waits for EOF as before.
 */
function drainNow(stream: Readable | null, sink: (c: Buffer) => void): boolean {
  if (!stream) return true;
  if (stream.readableFlowing !== true || stream.readableLength > 0) return false;
  const fd = pipeFd(stream);
  if (fd === undefined) return false;
  for (;;) {
    const buf = Buffer.allocUnsafe(64 * 1024);
    let n: number;
    try {
      n = readSync(fd, buf, 0, buf.length, null);
    } catch (e) {
      return (e as NodeJS.ErrnoException).code === 'EAGAIN';
    }
    if (n === 0) return true;
    sink(buf.subarray(0, n));
  }
}

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
  /** the function's stdout and stderr (fds 4 and 5 in the sandbox) */
  private readonly fnOut: Readable;
  private readonly fnErr: Readable;
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
    this.fnOut = (child.stdio as unknown as Readable[])[4]!;
    this.fnErr = (child.stdio as unknown as Readable[])[5]!;
    const stdout = forwardStdout(this.fnOut, (c) => this.out?.(c));
    child.once('exit', () => stdout.release());
    this.fnErr.on('data', (c: Buffer) => this.err?.(c));
    // runc's own stdout and stderr: only runc or the gate write there (the function has fds 4, 5)
    child.stdout?.resume();
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
    let early = false;
    try {
      const reported = this.reportedExit();
      const env = { ...s.env };
      for (const k of SHELL_SET) if (k in this.shellEnv) env[k] = this.shellEnv[k]!;
      this.gate.end(gateInput(env));
      s.hooks?.onStarted?.();
      feed = feedStdin(s.stdin, sb.child.stdin);
      const code = await Promise.race([reported, sb.exit.then(() => undefined)]);
      if (code !== undefined && this.drained()) {
        early = true;
        const r = await outcomeOf(sb, { code, signal: null }, s.io);
        return { ...r, ...stdinReport(s.stdin, feed) };
      }
      const r = await outcomeOf(sb, await sb.exit, s.io);
      return { ...r, ...stdinReport(s.stdin, feed) };
    } finally {
      clearTimeout(timer);
      unabort();
      feed?.detach();
      if (early) {
        // Answered from the gate's report: runc exits on its own right after (the gate is gone,
        // nothing is left in the sandbox), and is untracked and torn down then.
        this.out = undefined;
        this.err = undefined;
        void sb.exit.then(() => sb.finish());
      } else sb.finish();
    }
  }

  /** The exit status the gate writes on fd 3; undefined if fd 3 ends without one (killed). */
  private reportedExit(): Promise<number | undefined> {
    return new Promise((resolve) => {
      let text = '';
      const onData = (c: Buffer) => {
        text += c.toString('latin1');
        const m = EXIT_LINE.exec(text);
        if (m) done(Number(m[1]));
        else if (text.length > 64) done(undefined);
      };
      const done = (code: number | undefined) => {
        this.gate.off('data', onData);
        this.gate.off('close', onClose);
        resolve(code);
      };
      const onClose = () => done(undefined);
      this.gate.on('data', onData);
      this.gate.once('close', onClose);
    });
  }

  /** Forwards what is left of stdout and stderr now; false when it has to wait for their EOF. */
  private drained(): boolean {
    const out = this.out;
    const err = this.err;
    return drainNow(this.fnOut, (c) => out?.(c)) && drainNow(this.fnErr, (c) => err?.(c));
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
  const p = new RuncPrepared(rt.spawnSandbox(spec.id, bundle, logFile, 3), base.env);
  await p.ready;
  return p;
}
