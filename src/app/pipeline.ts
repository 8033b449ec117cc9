/**
 * `agni pipe A B C`: each stage is a recorded invocation in its own sandbox, all running at once,
 * stage i's stdout streamed into stage i+1's stdin with backpressure, the last stage's stdout to the
 * caller. Nothing is buffered whole: a stage reads only as fast as the next one (and finally the
 * caller) takes its output.
 *
 * Endings follow a shell pipeline. When a stage ends, the next one sees EOF and finishes. The stage
 * before it has lost its reader: it is killed as soon as it writes again (where a shell would give
 * it EPIPE), or after a short grace if it neither writes nor exits, so nothing is left running. A
 * stage killed that way is "cut", and a cut stage is never the one a failed pipe is blamed on.
 */
import { PassThrough, type Readable } from 'node:stream';
import { callTimeout } from '../core/call-timeout.js';
import { AgniError, isAgniError } from '../core/errors.js';
import { failingStage } from '../core/pipe.js';
import { formatTarget, type Target } from '../core/qualifier.js';
import { writable } from '../core/writable.js';
import type { DispatchJob } from '../dispatch/dispatch-request.js';
import type { Dispatcher, DispatcherStats } from '../dispatch/dispatcher.js';
import { groupRefusal } from '../dispatch/slot-groups.js';
import type { SandboxResult } from '../sandbox/backend.js';
import type { InvocationRecord, VersionRecord } from '../store/store.js';
import type { Resolved, VersionResolver } from '../store/version-resolver.js';
import { InsertGate } from './insert-gate.js';
import { describeFailure, type InvokeOutcome, type Invoker, type LazyRecord } from './invoker.js';

/** Between two stages at most this much waits in memory before the writer is held. */
const PIPE_BUFFER_BYTES = 256 * 1024;
/** How long a stage whose reader ended may linger (closing, exiting) before it is killed. */
const DEFAULT_GRACE_MS = 500;

export interface PipeSink {
  /**
   * stage (0-based) has its id, every stage before any of them runs; its record may come later
   * (invoker.ts LazyRecord), but every stage's is in the store by the first byte
   */
  onQueued?(stage: number, id: string): void;
  /** the last stage's stdout; a returned promise holds the whole pipe until it settles */
  onStdout(chunk: Buffer, firstByte: boolean): unknown;
  /** aborting stops every stage (the caller went away) */
  signal?: AbortSignal;
}

export interface StageOutcome {
  /** 1-based, as the user lists them */
  stage: number;
  /** as the user named it: NAME, NAME@3 or NAME@prod */
  function: string;
  record: InvocationRecord;
  version: VersionRecord;
  /** killed because the stage after it (or the caller) stopped reading its output first */
  cut: boolean;
  /** why it ended without a result (status error) */
  error?: unknown;
}

export interface PipeOutcome {
  stages: StageOutcome[];
  /** the stage the pipe failed on (see failingStage); undefined when it succeeded */
  failed?: StageOutcome;
  /** the caller went away before the pipe finished */
  aborted: boolean;
}

export interface PipelineOptions {
  graceMs?: number;
}

/**
 * The stages' invocations go through an Invoker over this gate: it collects their jobs and hands
 * them to the dispatcher as one group, so every stage gets its slot at the same moment.
 */
class GroupGate implements Dispatcher {
  private readonly jobs: DispatchJob[] = [];
  private readonly waiting: { resolve(r: SandboxResult): void; reject(e: unknown): void }[] = [];
  private failure: unknown;

  constructor(
    private readonly real: Dispatcher,
    private readonly size: number,
  ) {}

  /** the pipe was admitted as a whole before any stage was recorded */
  admit(): void {}

  dispatch(job: DispatchJob): Promise<SandboxResult> {
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise((resolve, reject) => {
      this.jobs.push(job);
      this.waiting.push({ resolve, reject });
      if (this.jobs.length < this.size) return;
      this.real.dispatchGroup(this.jobs).forEach((p, k) => {
        const w = this.waiting[k]!;
        p.then(w.resolve, w.reject);
      });
    });
  }

  dispatchGroup(jobs: DispatchJob[]): Promise<SandboxResult>[] {
    return this.real.dispatchGroup(jobs);
  }

  /** A stage could not be recorded: the others must not wait for it. */
  cancel(cause: unknown): void {
    if (this.jobs.length >= this.size || this.failure !== undefined) return;
    const why = cause instanceof Error ? cause.message : String(cause);
    this.failure = new AgniError('sandbox_error', `another stage of the pipe could not start: ${why}`);
    for (const w of this.waiting.splice(0)) w.reject(this.failure);
  }

  stats(): DispatcherStats {
    return this.real.stats();
  }

  async close(): Promise<void> {}
}

export class Pipeline {
  private readonly graceMs: number;

  constructor(
    private readonly resolver: VersionResolver,
    private readonly dispatcher: Dispatcher,
    /** an Invoker over the given dispatcher (the composition root knows how Invokers are made) */
    private readonly invokerFor: (d: Dispatcher) => Invoker,
    opts: PipelineOptions = {},
  ) {
    this.graceMs = opts.graceMs ?? DEFAULT_GRACE_MS;
  }

  /**
   * The version each stage runs (an alias's pick is made here, once per stage), or an error before
   * anything is recorded or run (also when a per-call timeout is longer than some stage's
   * limits.timeout).
   */
  async plan(targets: readonly Target[], timeoutMs?: number): Promise<Resolved[]> {
    if (targets.length === 0) throw new AgniError('bad_request', 'a pipe needs at least one function');
    const found: Resolved[] = [];
    for (const [i, t] of targets.entries()) {
      try {
        found.push(await this.resolver.resolve(t.name, t.qualifier));
      } catch (e) {
        if (!isAgniError(e)) throw e;
        const named = formatTarget(t.name, t.qualifier);
        throw new AgniError(e.code, `${e.message} (stage ${i + 1} of the pipe)`, {
          hint: e.hint,
          details: { stage: i + 1, function: named },
        });
      }
    }
    for (const r of found) callTimeout(timeoutMs, r.version.manifest.limits.timeoutMs, r.version.function);
    const needs = found.map((r) => ({
      function: r.version.function,
      concurrency: r.version.manifest.concurrency,
    }));
    const refusal = groupRefusal(needs, this.dispatcher.stats().slots);
    if (refusal) throw refusal;
    return found;
  }

  async run(
    targets: readonly Target[],
    input: Buffer | Readable,
    receivedAt: number,
    sink: PipeSink,
    /** a per-call timeout for every stage (Agni-Timeout) */
    timeoutMs?: number,
  ): Promise<PipeOutcome> {
    const planned = await this.plan(targets, timeoutMs);
    const names = targets.map((t) => formatTarget(t.name, t.qualifier));
    // Refuse before recording anything: a 429 leaves no trace to clean up.
    this.dispatcher.admit();
    const n = names.length;
    const gate = new GroupGate(this.dispatcher, n);
    const invoker = this.invokerFor(gate);
    const stops = names.map(() => new AbortController());
    const cut = names.map(() => false);
    const done = names.map(() => false);
    /** stage i's output is no longer read: the stage after it (or the caller) ended */
    const orphaned = names.map(() => false);
    const graceTimers: (NodeJS.Timeout | undefined)[] = names.map(() => undefined);
    /** pipes[i] is stage i's stdin (i ≥ 1); stage 0 reads `input` */
    const pipes = names.map((_, i) =>
      i === 0 ? undefined : new PassThrough({ highWaterMark: PIPE_BUFFER_BYTES }),
    );

    const kill = (i: number, why: string) => {
      if (done[i] || cut[i]) return;
      cut[i] = true;
      stops[i]!.abort(new AgniError('sandbox_error', why));
    };
    const readerGone = (i: number) =>
      i === n - 1
        ? 'the caller went away'
        : `stage ${i + 2} (${names[i + 1]}) ended before reading all its input`;
    const orphan = (i: number) => {
      if (done[i] || orphaned[i]) return;
      orphaned[i] = true;
      graceTimers[i] = setTimeout(() => kill(i, readerGone(i)), this.graceMs);
    };
    const onCallerGone = () => {
      // the route may say why it stopped the pipe (e.g. its input went idle)
      const reason = sink.signal?.reason;
      const why = reason instanceof AgniError ? reason.message : readerGone(n - 1);
      for (let i = 0; i < n; i++) kill(i, why);
    };
    sink.signal?.addEventListener('abort', onCallerGone, { once: true });
    if (sink.signal?.aborted) onCallerGone();

    // The caller gets every stage's id with the first byte and may look any of them up at once; a
    // stage silent so far may not be recorded yet (its insert waits): that output waits for it, as a
    // call's own output waits for its own record; if a record cannot be written, the pipe is stopped.
    const records: LazyRecord[] = [];
    let recorded: InsertGate | undefined;
    const toCaller = (chunk: Buffer, first: boolean) => {
      if (!recorded) {
        for (const r of records) r.now();
        recorded = new InsertGate(async () => {
          await Promise.all(records.map((r) => r.stored()));
        });
        recorded.signal.addEventListener('abort', () => {
          const e = recorded?.signal.reason;
          const why = `another stage of the pipe could not be recorded: ${e instanceof Error ? e.message : String(e)}`;
          for (let k = 0; k < n; k++) kill(k, why);
        });
      }
      return recorded.pass(() => sink.onStdout(chunk, first));
    };

    const stdoutOf = (i: number) => (chunk: Buffer, first: boolean) => {
      if (orphaned[i]) return kill(i, readerGone(i)); // it wrote again: a shell would give it EPIPE
      if (i === n - 1) return toCaller(chunk, first);
      const next = pipes[i + 1]!;
      if (!next.destroyed && !next.write(chunk)) return writable(next);
      return undefined;
    };

    const runs = targets.map((t, i) =>
      invoker
        .invoke(
          t.name,
          pipes[i] ?? input,
          receivedAt,
          {
            onQueued: (id, _ran, record) => {
              if (record) records.push(record);
              sink.onQueued?.(i, id);
            },
            onStdout: stdoutOf(i),
            signal: stops[i]!.signal,
          },
          { resolved: planned[i], ...(timeoutMs === undefined ? {} : { timeoutMs }) },
        )
        .then(
          (o): InvokeOutcome | { thrown: unknown } => o,
          (thrown: unknown) => {
            gate.cancel(thrown);
            return { thrown };
          },
        )
        .finally(() => {
          done[i] = true;
          clearTimeout(graceTimers[i]);
          const next = pipes[i + 1];
          if (next && !next.destroyed) next.end(); // EOF for the next stage
          // Nobody reads this stage's input any more: the writer before it is orphaned.
          if (i > 0) {
            orphan(i - 1);
            pipes[i]!.destroy();
          } else if (!Buffer.isBuffer(input)) input.resume(); // the caller's rest is read and dropped
        }),
    );
    const settled = await Promise.all(runs);
    sink.signal?.removeEventListener('abort', onCallerGone);

    // A stage that could not even be recorded (e.g. its function was removed meanwhile).
    const thrown = settled.find((s): s is { thrown: unknown } => 'thrown' in s);
    if (thrown) throw thrown.thrown;
    const stages = (settled as InvokeOutcome[]).map(
      (o, i): StageOutcome => ({
        stage: i + 1,
        function: names[i]!,
        record: o.record,
        version: o.version,
        cut: cut[i]!,
        error: o.error,
      }),
    );
    const k = failingStage(stages.map((s) => ({ status: s.record.status, cut: s.cut })));
    return {
      stages,
      failed: k === undefined ? undefined : stages[k],
      aborted: sink.signal?.aborted ?? false,
    };
  }
}

/** The error a failed pipe answers with: the failing stage's own error, naming the stage. */
export function pipeFailure(o: PipeOutcome): AgniError | undefined {
  const f = o.failed;
  if (!f) return undefined;
  const { timeoutMs, memoryBytes } = f.version.manifest.limits;
  // An error with a code of its own (e.g. a warm stage's input over the limit) keeps that code.
  const own = isAgniError(f.error) ? f.error : undefined;
  const e = own
    ? new AgniError(own.code, `${f.function}: ${own.message}`, {
        hint: own.hint,
        details: { invocation_id: f.record.id },
      })
    : describeFailure(f.record, timeoutMs, memoryBytes);
  if (!e) return undefined;
  const id = f.record.id;
  return new AgniError(e.code, `pipe stage ${f.stage} of ${o.stages.length} failed: ${e.message} (${id})`, {
    hint: e.hint ?? `see \`agni inspect ${id}\``,
    details: {
      ...e.details,
      stage: f.stage,
      function: f.function,
      invocation_ids: o.stages.map((s) => s.record.id),
    },
  });
}
