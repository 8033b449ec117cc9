/**
 * Warm workers (lifecycle: warm): per function version up to max(1, pool.max) long-lived sandboxes,
 * each serving invocations one at a time over the warm protocol (docs/warm-protocol.md): requests on
 * the worker's fd 3, completions on fd 4, each invocation's own stdout/stderr by the byte counts.
 */
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { AgniError } from '../core/errors.js';
import {
  ByteRouter,
  CompletionParser,
  ENV_FEATURE,
  encodeRequest,
  MARK_FEATURE,
  type WarmEvent,
} from '../core/warm-frames.js';
import type { Backend, SandboxResult, SandboxSpec, WorkerExit, WorkerSandbox } from '../sandbox/backend.js';
import { onAbort } from '../sandbox/stdio.js';
import type { VersionRecord } from '../store/store.js';
import type { BaseSpec, InvocationContext, SandboxRunner } from './runner.js';

/** The repo's runtimes/ (dist/src/agent/ → package root), mounted read-only into every warm sandbox. */
/** a version's workers are grouped by `fn@version` (also the heartbeat's `warm` entries) */
const groupKey = (v: VersionRecord): string => `${v.function}@${v.version}`;

export const RUNTIMES_DIR = fileURLToPath(new URL('../../../runtimes', import.meta.url));
export const RUNTIMES_MOUNT = '/agni/runtimes';
const STARTUP_STDERR_MAX = 64 * 1024;
/** how long a worker waits, after a call, for that call's slow reader before it is retired instead */
const HOLD_WAIT_MS = 5000;

/** Where a retired worker is reported (a pino logger fits). */
export interface WarmLog {
  warn(obj: object, msg: string): void;
}

/** One turn of the event loop: every pipe with bytes waiting has been read once more. */
const turn = () => new Promise<void>((r) => setImmediate(r));

type WorkerStarter = Required<Pick<Backend, 'startWorker'>>;

interface Call {
  inv: InvocationContext;
  status?: number;
  outDone: boolean;
  errDone: boolean;
  timedOut: boolean;
  protocolError?: string;
  /** the end mark of its stdout and stderr (a worker that asked for `mark`) */
  mark?: string;
  resolve(r: SandboxResult): void;
  reject(e: unknown): void;
}

export interface Group {
  key: string;
  fn: string;
  version: number;
  min: number;
  max: number;
  idleMs: number;
  workers: Set<PooledWorker>;
  kind: WorkerKind;
  /** the version the workers run */
  record: VersionRecord;
  /** workers being created, not yet in `workers` (they count against max) */
  starting: number;
  idle: PooledWorker[];
  /** callers waiting for a worker: handed one, or undefined when capacity freed up */
  waiters: ((w: PooledWorker | undefined) => void)[];
  closed: boolean;
}

/**
 * What the pool needs of a worker, whatever protocol it speaks (the warm protocol here, the Lambda
 * Runtime API in lambda-worker.ts): its state, readiness, one call at a time, and retirement.
 */
export interface PooledWorker {
  state: 'starting' | 'idle' | 'busy' | 'dead';
  idleTimer: NodeJS.Timeout | undefined;
  exit: WorkerExit | undefined;
  readonly sandbox: WorkerSandbox;
  readonly group: Group;
  /** resolves once the worker can take its first call, or died */
  readonly ready: Promise<void>;
  /** set once: why this worker serves no further call */
  retireReason: string | undefined;
  /** output bytes that arrived outside any call, dropped */
  strayBytes: number;
  retire(reason: string): void;
  /** after a call: why it must not serve the next one, if anything */
  leftovers(): Promise<string | undefined>;
  send(inv: InvocationContext): Promise<SandboxResult>;
  /** once ready, before the first call */
  afterReady(): Promise<void>;
  /** it died before it was ready: the starting call's result (its stderr explains) */
  startFailed(inv: InvocationContext, exit: WorkerExit): SandboxResult;
}

/** One worker about to start: the spec its protocol needs, and how the worker is made over the sandbox. */
export interface PreparedWorker {
  spec: SandboxSpec;
  /** releases what prepare made when the sandbox never started */
  undo(): Promise<void>;
  create(
    sandbox: WorkerSandbox,
    group: Group,
    onExit: (w: PooledWorker) => void,
    onRetire: (w: PooledWorker) => void,
  ): PooledWorker;
}

/** How a version's workers are made (the warm protocol, or the Lambda Runtime API). */
export interface WorkerKind {
  prepare(spec: SandboxSpec, v: VersionRecord): Promise<PreparedWorker>;
}

/**
 * Marks `w` as serving no further call; an idle one is stopped now, a busy one after its call.
 * Shared by every kind of worker.
 */
export function retireWorker(w: PooledWorker, reason: string, onRetire: (w: PooledWorker) => void): void {
  if (w.retireReason !== undefined || w.state === 'dead') return;
  w.retireReason = reason;
  onRetire(w);
  if (w.state !== 'idle') return;
  clearTimeout(w.idleTimer);
  const i = w.group.idle.indexOf(w);
  if (i >= 0) w.group.idle.splice(i, 1);
  w.state = 'busy';
  void w.sandbox.kill();
}

class Worker implements PooledWorker {
  state: 'starting' | 'idle' | 'busy' | 'dead' = 'starting';
  call: Call | undefined;
  idleTimer: NodeJS.Timeout | undefined;
  exit: WorkerExit | undefined;
  /** resolves once `ready` arrived and the start-up output it counts has been read (or the worker died) */
  readonly ready: Promise<void>;
  readonly startupStderr: Buffer[] = [];
  /** the sandbox's processes at `ready`; after a call, any other one was left running by that call */
  baseline: Set<string> | undefined;
  /** set once: why this worker serves no further call */
  retireReason: string | undefined;
  /** output bytes that arrived outside any call, dropped */
  strayBytes = 0;
  /** it asked (`ready … env`) for each call's environment (the request's AGNI_HTTP_*) in its frames */
  wantsEnv = false;
  /** it asked (`ready … mark`) for an end mark per call instead of counting its output */
  wantsMark = false;
  private startupStderrBytes = 0;
  /** the current call's slow reader holds stdout until these settle */
  private readonly holds = new Set<Promise<unknown>>();
  private readonly out = new ByteRouter((c) => this.stray(c));
  private readonly err = new ByteRouter((c) => this.stray(c));

  constructor(
    readonly sandbox: WorkerSandbox,
    readonly group: Group,
    onExit: (w: PooledWorker) => void,
    private readonly onRetire: (w: PooledWorker) => void,
  ) {
    let resolveReady!: () => void;
    this.ready = new Promise((r) => (resolveReady = r));
    let startupLeft = 2;
    const startupDone = () => {
      if (--startupLeft === 0) resolveReady();
    };
    // Start-up output: stdout is no invocation's; stderr is kept to explain a worker that never gets ready.
    this.out.open(() => {}, startupDone);
    this.err.open((c) => {
      if (this.startupStderrBytes >= STARTUP_STDERR_MAX) return;
      this.startupStderr.push(c);
      this.startupStderrBytes += c.length;
    }, startupDone);
    sandbox.stdout.on('data', (c: Buffer) => this.out.write(c));
    sandbox.stderr.on('data', (c: Buffer) => this.err.write(c));
    sandbox.stdin.on('error', () => {});
    sandbox.stdin.end();
    const parser = new CompletionParser();
    sandbox.completions.on('data', (c: Buffer) => {
      for (const ev of parser.push(c)) this.onEvent(ev);
    });
    void sandbox.exited.then((exit) => {
      this.exit = exit;
      this.state = 'dead';
      resolveReady();
      const call = this.call;
      this.call = undefined;
      if (call) this.failCall(call, exit);
      onExit(this);
    });
  }

  private onEvent(ev: WarmEvent): void {
    if (ev.type === 'ready' && this.state === 'starting') {
      this.state = 'busy'; // reserved for the caller that started it
      this.wantsEnv = ev.features.includes(ENV_FEATURE);
      this.wantsMark = ev.features.includes(MARK_FEATURE);
      this.out.complete(ev.stdout);
      this.err.complete(ev.stderr);
      return;
    }
    const call = this.call;
    // Counts from a worker that asked for marks, or `-` from one that did not, say nothing sure.
    const fits = ev.type === 'done' && (ev.stdout === null) === (call?.mark !== undefined);
    if (ev.type === 'done' && fits && call && call.status === undefined && ev.id === call.inv.id) {
      call.status = ev.status;
      if (ev.stdout !== null) this.out.complete(ev.stdout);
      if (ev.stderr !== null) this.err.complete(ev.stderr);
      this.settle(call);
      return;
    }
    const message =
      ev.type === 'error'
        ? ev.message
        : ev.type === 'done' && !fits
          ? `completion ${JSON.stringify(ev)} ${call?.mark ? 'has counts where the call ends at its mark (-)' : 'has no counts'}`
          : `unexpected completion ${JSON.stringify(ev)}`;
    if (call) call.protocolError = `warm protocol error: ${message}`;
    this.retire(`warm protocol error: ${message}`);
    void this.sandbox.kill();
  }

  /** Output no call owns: dropped, and the worker serves no one else (it has a writer nobody controls). */
  private stray(chunk: Buffer): void {
    this.strayBytes += chunk.length;
    this.retire('it wrote output outside any call');
  }

  /** Marks the worker as serving no further call; an idle one is stopped now, a busy one after its call. */
  retire(reason: string): void {
    retireWorker(this, reason, this.onRetire);
  }

  /**
   * After a call: why this worker must not serve the next one, if anything. A process that was not
   * there at `ready` was left running by the call (it could write into the next call's output);
   * bytes beyond the call's counts belong to nobody.
   */
  async leftovers(): Promise<string | undefined> {
    if (this.retireReason !== undefined) return this.retireReason;
    if (this.holds.size > 0 && !(await settlesWithin([...this.holds], HOLD_WAIT_MS)))
      return 'the last call’s reader held its output too long to check for stray output';
    let now: string[];
    try {
      now = await this.sandbox.processes();
    } catch {
      return 'its processes cannot be listed';
    }
    if (this.baseline === undefined) return 'its processes could not be listed at ready';
    const strays = now.filter((p) => !this.baseline?.has(p));
    if (strays.length > 0) return `the last call left ${strays.length} process(es) running`;
    // Whatever was written before the completion line is in the pipes by now; two turns of the
    // event loop (each polls every pipe) read it, so bytes no count covers show up as strays here.
    await turn();
    await turn();
    return this.retireReason;
  }

  async afterReady(): Promise<void> {
    this.baseline = await this.sandbox.processes().then(
      (ps) => new Set(ps),
      () => undefined,
    );
  }

  startFailed(inv: InvocationContext, exit: WorkerExit): SandboxResult {
    for (const c of this.startupStderr) inv.io.onStderr(c);
    if (exit.note) inv.io.onStderr(Buffer.from(exit.note));
    inv.io.onStderr(Buffer.from(`warm worker exited before reporting ready (code ${exit.exitCode})\n`));
    const outcome = exit.outcome === 'oom' ? 'oom' : 'failed';
    return { outcome, exitCode: exit.exitCode, signal: exit.signal };
  }

  /** Sends one invocation; the promise settles on its completion, its deadline or the worker's exit. */
  send(inv: InvocationContext): Promise<SandboxResult> {
    const payload = inv.payload;
    // The frame carries the payload's length first (the agent buffers streams for warm workers).
    if (!Buffer.isBuffer(payload))
      return Promise.reject(new AgniError('sandbox_error', 'a warm worker takes its payload as a buffer'));
    return new Promise<SandboxResult>((resolve, reject) => {
      // A fresh, unguessable mark per call: no caller's payload can end another call's output early.
      const mark = this.wantsMark ? `agni-end-${randomBytes(16).toString('hex')}` : undefined;
      const markBytes = mark === undefined ? undefined : Buffer.from(mark);
      const call: Call = { inv, outDone: false, errDone: false, timedOut: false, resolve, reject, mark };
      this.call = call;
      this.out.open(
        (c) => {
          const held = inv.io.onStdout(c);
          if (!(held instanceof Promise)) return;
          this.holds.add(held);
          const drop = () => this.holds.delete(held);
          held.then(drop, drop);
          this.sandbox.holdStdout(held);
        },
        () => {
          call.outDone = true;
          this.settle(call);
        },
        markBytes,
      );
      this.err.open(
        (c) => inv.io.onStderr(c),
        () => {
          call.errDone = true;
          this.settle(call);
        },
        markBytes,
      );
      const timer = setTimeout(
        () => {
          call.timedOut = true;
          void this.sandbox.kill();
        },
        Math.max(0, inv.deadline - Date.now()),
      );
      // Aborting a call ends it like its deadline: the worker (and with it the call) is killed.
      const unabort = onAbort(inv.io.signal, () => {
        call.timedOut = true;
        void this.sandbox.kill();
      });
      const clear = () => {
        clearTimeout(timer);
        unabort();
      };
      call.resolve = (r) => {
        clear();
        resolve(r);
      };
      call.reject = (e) => {
        clear();
        reject(e);
      };
      // A worker that did not ask for the environment gets the original three-field line.
      const env = this.wantsEnv ? (inv.env ?? {}) : undefined;
      this.sandbox.requests.write(encodeRequest(inv.id, inv.deadline, payload, env, mark));
      inv.hooks.onStarted?.();
    });
  }

  private settle(call: Call): void {
    if (this.call !== call || call.status === undefined || !call.outDone || !call.errDone) return;
    this.call = undefined;
    const ok = call.status === 0;
    call.resolve({ outcome: ok ? 'ok' : 'failed', exitCode: call.status, signal: null });
  }

  private failCall(call: Call, exit: WorkerExit): void {
    if (exit.error) {
      call.reject(new AgniError('sandbox_error', `warm worker ${this.sandbox.id}: ${exit.error}`));
      return;
    }
    if (exit.note) call.inv.io.onStderr(Buffer.from(exit.note));
    if (call.protocolError) call.inv.io.onStderr(Buffer.from(`${call.protocolError}\n`));
    if (call.timedOut) {
      call.resolve({ outcome: 'timeout', exitCode: exit.exitCode, signal: exit.signal ?? 'SIGKILL' });
      return;
    }
    // The platform killed the worker for breaking the protocol: a failure, not a deadline.
    if (call.protocolError) {
      call.resolve({ outcome: 'failed', exitCode: exit.exitCode, signal: exit.signal });
      return;
    }
    const outcome = exit.outcome === 'oom' || exit.outcome === 'timeout' ? exit.outcome : 'failed';
    call.resolve({ outcome, exitCode: exit.exitCode, signal: exit.signal });
  }
}

/** True when all of `ps` settled within `ms`. */
async function settlesWithin(ps: Promise<unknown>[], ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const settled = await Promise.race([
    Promise.allSettled(ps).then(() => true),
    new Promise<false>((r) => {
      timer = setTimeout(() => r(false), ms);
    }),
  ]);
  clearTimeout(timer);
  return settled;
}

export class WarmWorkers implements SandboxRunner {
  private readonly groups = new Map<string, Group>();
  private closed = false;
  /** workers retired for what a call left behind, and the stray output bytes dropped */
  private readonly retired = { workers: 0, strayBytes: 0 };
  /** calls that found a worker already running (hits), and workers started for a call (starts) */
  private readonly counts = { hits: 0, starts: 0 };

  private readonly warmKind: WorkerKind;

  constructor(
    private readonly backend: WorkerStarter,
    runtimesDir = RUNTIMES_DIR,
    private readonly log?: WarmLog,
    /** workers of `protocol: lambda` functions (src/agent/lambda-worker.ts); absent: refused */
    private readonly lambdaKind?: WorkerKind,
  ) {
    this.warmKind = {
      prepare: async (spec) => ({
        spec: {
          ...spec,
          env: { ...spec.env, AGNI_LIFECYCLE: 'warm', AGNI_RUNTIMES: RUNTIMES_MOUNT },
          extraMounts: [...(spec.extraMounts ?? []), { source: runtimesDir, destination: RUNTIMES_MOUNT }],
        },
        undo: async () => {},
        create: (sandbox, group, onExit, onRetire) => new Worker(sandbox, group, onExit, onRetire),
      }),
    };
  }

  private kindOf(v: VersionRecord): WorkerKind {
    if (v.manifest.protocol !== 'lambda') return this.warmKind;
    if (this.lambdaKind) return this.lambdaKind;
    throw new AgniError(
      'backend_unavailable',
      `${v.function} uses protocol: lambda, which this node cannot run`,
      {
        hint: 'start the server with `agni up --backend runc` (as root, with runc and socat installed)',
      },
    );
  }

  async run(version: VersionRecord, base: BaseSpec, inv: InvocationContext): Promise<SandboxResult> {
    const g = this.group(version);
    const got = await this.acquire(g, base, inv);
    if (!('send' in got)) return got;
    inv.hooks.onReady?.();
    try {
      return await got.send(inv);
    } finally {
      // Checked for leftovers before anyone else gets it; the next caller then finds it idle.
      await this.release(got);
    }
  }

  idle(v: VersionRecord): boolean {
    return (this.groups.get(groupKey(v))?.idle.length ?? 0) > 0;
  }

  private group(v: VersionRecord): Group {
    const key = groupKey(v);
    let g = this.groups.get(key);
    if (!g) {
      const { pool } = v.manifest;
      const max = Math.max(1, pool.max);
      g = {
        key,
        fn: v.function,
        version: v.version,
        min: Math.min(pool.min, max),
        max,
        idleMs: pool.idleMs,
        workers: new Set(),
        starting: 0,
        idle: [],
        waiters: [],
        closed: false,
        kind: this.kindOf(v),
        record: v,
      };
      this.groups.set(key, g);
    }
    return g;
  }

  /** An idle worker, a new one once it is ready, or the invocation's result when that failed. */
  private async acquire(
    g: Group,
    base: BaseSpec,
    inv: InvocationContext,
  ): Promise<PooledWorker | SandboxResult> {
    for (;;) {
      if (this.closed || g.closed) throw new AgniError('sandbox_error', 'warm workers are shutting down');
      const idle = g.idle.pop();
      if (idle) {
        clearTimeout(idle.idleTimer);
        idle.state = 'busy';
        this.counts.hits++;
        return idle;
      }
      if (g.workers.size + g.starting < g.max) return this.start(g, base, inv);
      const left = inv.deadline - Date.now();
      let waiter!: (w: PooledWorker | undefined) => void;
      let timer: NodeJS.Timeout | undefined;
      const handed = await new Promise<PooledWorker | undefined | 'timeout'>((res) => {
        waiter = res;
        g.waiters.push(res);
        timer = setTimeout(() => res('timeout'), Math.max(0, left));
      });
      clearTimeout(timer);
      if (handed === 'timeout') {
        const i = g.waiters.indexOf(waiter);
        if (i >= 0) g.waiters.splice(i, 1);
        return { outcome: 'timeout', exitCode: null, signal: null };
      }
      if (handed) {
        this.counts.hits++;
        return handed;
      }
    }
  }

  private async start(
    g: Group,
    spec: BaseSpec,
    inv: InvocationContext,
  ): Promise<PooledWorker | SandboxResult> {
    g.starting++;
    this.counts.starts++;
    let sandbox: WorkerSandbox;
    let prepared: PreparedWorker;
    try {
      const base = await spec();
      prepared = await g.kind.prepare(
        { ...base, id: `${base.id.slice(0, 50)}-w${randomBytes(5).toString('hex')}` },
        g.record,
      );
      const p = prepared;
      sandbox = await this.backend.startWorker(p.spec).catch(async (e) => {
        await p.undo();
        throw e;
      });
    } catch (e) {
      g.waiters.shift()?.(undefined);
      throw e;
    } finally {
      g.starting--;
    }
    const w = prepared.create(
      sandbox,
      g,
      (dead) => this.forget(dead),
      (r) => this.noteRetired(r),
    );
    g.workers.add(w);
    let timer: NodeJS.Timeout | undefined;
    const inTime = await Promise.race([
      w.ready.then(() => true),
      new Promise<false>((r) => {
        timer = setTimeout(() => r(false), Math.max(0, inv.deadline - Date.now()));
      }),
    ]);
    clearTimeout(timer);
    if (!inTime) {
      inv.io.onStderr(Buffer.from('warm worker did not report ready before the deadline\n'));
      await w.sandbox.kill();
      return { outcome: 'timeout', exitCode: null, signal: 'SIGKILL' };
    }
    if (w.state !== 'dead') {
      await w.afterReady();
      return w;
    }
    const exit = (await sandbox.exited) as WorkerExit;
    if (exit.error)
      throw new AgniError('sandbox_error', `warm worker ${sandbox.id} failed to start: ${exit.error}`);
    return w.startFailed(inv, exit);
  }

  private async release(w: PooledWorker): Promise<void> {
    const g = w.group;
    if (w.state === 'dead') return;
    if (!this.closed && !g.closed) {
      const why = await w.leftovers();
      if (w.exit !== undefined) return; // died meanwhile: forget() has it
      if (why !== undefined) w.retire(why);
    }
    if (this.closed || g.closed || w.retireReason !== undefined) {
      void w.sandbox.kill();
      return;
    }
    const waiter = g.waiters.shift();
    if (waiter) {
      waiter(w);
      return;
    }
    w.state = 'idle';
    g.idle.push(w);
    w.idleTimer = setTimeout(() => {
      if (w.state === 'idle' && g.workers.size > g.min) {
        g.idle.splice(g.idle.indexOf(w), 1);
        w.state = 'busy';
        void w.sandbox.kill();
      }
    }, g.idleMs);
    w.idleTimer.unref();
  }

  private noteRetired(w: PooledWorker): void {
    this.retired.workers++;
    this.log?.warn(
      { worker: w.sandbox.id, function: w.group.fn, version: w.group.version, reason: w.retireReason },
      'warm worker retired: the next call gets a fresh one',
    );
  }

  private forget(w: PooledWorker): void {
    this.retired.strayBytes += w.strayBytes;
    if (w.strayBytes > 0)
      this.log?.warn(
        { worker: w.sandbox.id, function: w.group.fn, version: w.group.version, bytes: w.strayBytes },
        'warm worker output outside any call was dropped',
      );
    const g = w.group;
    clearTimeout(w.idleTimer);
    g.workers.delete(w);
    const i = g.idle.indexOf(w);
    if (i >= 0) g.idle.splice(i, 1);
    g.waiters.shift()?.(undefined);
    if (g.workers.size === 0 && (g.closed || this.closed) && this.groups.get(g.key) === g)
      this.groups.delete(g.key);
  }

  /** Idle workers stop now; busy ones after their invocation, or now too when `all` (shutdown). */
  private async stop(g: Group, all: boolean): Promise<void> {
    g.closed = true;
    for (const waiter of g.waiters.splice(0)) waiter(undefined);
    const now = all ? [...g.workers] : [...g.idle];
    await Promise.all(now.map((w) => w.sandbox.kill()));
    if (this.groups.get(g.key) === g) this.groups.delete(g.key);
  }

  async drain(fn: string, keep?: number): Promise<void> {
    const gone = [...this.groups.values()].filter((g) => g.fn === fn && g.version !== keep);
    await Promise.all(gone.map((g) => this.stop(g, false)));
  }

  async shutdown(): Promise<void> {
    this.closed = true;
    await Promise.all([...this.groups.values()].map((g) => this.stop(g, true)));
  }

  /** Workers retired for what a call left behind, and the stray output bytes dropped (diagnostics). */
  strays(): { workers: number; strayBytes: number } {
    return { ...this.retired };
  }

  held(): string[] {
    return [...this.groups.values()].filter((g) => g.workers.size > 0).map((g) => g.key);
  }

  /** Node-wide totals for metrics: workers running and idle now, hits and starts so far. */
  totals(): { workers: number; idle: number; hits: number; starts: number } {
    let workers = 0;
    let idle = 0;
    for (const g of this.groups.values()) {
      workers += g.workers.size;
      idle += g.idle.length;
    }
    return { workers, idle, ...this.counts };
  }

  /** Workers per function version (diagnostics, tests). */
  stats(): Record<string, { workers: number; idle: number }> {
    const out: Record<string, { workers: number; idle: number }> = {};
    for (const g of this.groups.values()) out[g.key] = { workers: g.workers.size, idle: g.idle.length };
    return out;
  }
}
