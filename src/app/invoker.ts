/**
 * One invocation from request to record: look up the function, record it, dispatch it, stamp
 * each phase and keep bounded tails of its output. Streaming to the caller goes through `sink`.
 */

import type { Readable } from 'node:stream';
import { callTimeout } from '../core/call-timeout.js';
import { AgniError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import type { InvocationEvent, InvocationEventSink, InvocationEventType } from '../core/invocation-events.js';
import type { LambdaCaller } from '../core/lambda.js';
import { type PhaseTimes, stamp, totalMs } from '../core/phases.js';
import { LIVE, type Qualifier } from '../core/qualifier.js';
import type { RequestContext } from '../core/request-context.js';
import { TailBuffer } from '../core/tail.js';
import type { InputRef } from '../core/volumes.js';
import { dispatchRequest } from '../dispatch/dispatch-request.js';
import type { Dispatcher } from '../dispatch/dispatcher.js';
import type { SandboxResult } from '../sandbox/backend.js';
import type {
  InvocationPatch,
  InvocationRecord,
  InvocationStatus,
  Store,
  VersionRecord,
} from '../store/store.js';
import type { Resolved, VersionResolver } from '../store/version-resolver.js';
import { EventHold } from './event-hold.js';
import { InsertGate } from './insert-gate.js';
import { RecordWrites } from './record-writes.js';

export const TAIL_BYTES = 64 * 1024;
/**
 * a sync call still running this long after it was queued is inserted, and this long after it was
 * placed recorded `running`; a shorter one is recorded once, when it ends
 */
export const RUNNING_WRITE_DELAY_MS = 20;

/**
 * A sync call's record while it is written lazily: not in the store yet for up to
 * RUNNING_WRITE_DELAY_MS. Its own output waits for it; anyone handing the id on sooner waits for
 * `stored()` (after `now()`, not to wait out the delay).
 */
export type LazyRecord = Pick<InsertGate, 'now' | 'stored'>;

export interface InvokeSink {
  /**
   * the invocation has its id and is about to be dispatched (its record is being written: `record`);
   * `ran` says which version (and alias) it runs
   */
  onQueued?(id: string, ran?: { version: number; alias: string | null }, record?: LazyRecord): void;
  /** a returned promise holds the function's stdout until it settles (backpressure) */
  onStdout(chunk: Buffer, firstByte: boolean): unknown;
  onStderr?(chunk: Buffer): void;
  /** aborting kills the sandbox, or drops the invocation from the queue */
  signal?: AbortSignal;
  /** protocol: lambda: the caller's client context / identity (the Invoke API's X-Amz-Client-Context) */
  lambda?: LambdaCaller;
}

export interface InvokeOptions {
  /** the HTTP request that started the call: the function sees it as AGNI_HTTP_* variables */
  request?: RequestContext;
  /** a per-call timeout (ms) shorter than the function's limits.timeout; a longer one is refused */
  timeoutMs?: number;
  /** which version runs: the live one (default), a version number, or an alias (see core/qualifier.ts) */
  qualifier?: Qualifier;
  /** already resolved by the caller (a pipe resolves every stage before any runs); wins over `qualifier` */
  resolved?: Resolved;
}

export interface InvokeOutcome {
  record: InvocationRecord;
  /** the version that ran (its limits explain a timeout or out-of-memory) */
  version: VersionRecord;
  result: SandboxResult | undefined;
  /** why it ended without a result (status error), e.g. an AgniError with its own code */
  error?: unknown;
}

const STATUS: Record<SandboxResult['outcome'], InvocationStatus> = {
  ok: 'succeeded',
  failed: 'failed',
  timeout: 'timeout',
  oom: 'oom',
};

export function describeFailure(
  r: InvocationRecord,
  timeoutMs: number,
  memoryBytes: number,
): AgniError | undefined {
  const details = { invocation_id: r.id, exit_code: r.exitCode, stderr_tail: r.stderrTail.slice(-2048) };
  // The caller's own (shorter) timeout, when it asked for one, is what applied.
  const applied = r.timeoutMs ?? timeoutMs;
  switch (r.status) {
    case 'failed':
      // A Lambda function's error (r.error: its type and message) rather than an exit code.
      return new AgniError(
        'function_failed',
        r.error
          ? `${r.function} failed: ${r.error}`
          : `${r.function} exited with code ${r.exitCode ?? 'unknown'}`,
        {
          hint: `the whole record, with its phases and output tails: \`agni inspect ${r.id}\``,
          details,
        },
      );
    case 'timeout':
      return new AgniError('timeout', `${r.function} ran past its ${applied} ms deadline and was killed`, {
        hint:
          applied < timeoutMs
            ? `the call asked for ${applied} ms (Agni-Timeout, --timeout); the function may take up to ${timeoutMs} ms`
            : 'raise limits.timeout in agni.yaml if the work needs longer',
        details: { ...details, timeout_ms: applied },
      });
    case 'oom':
      return new AgniError(
        'out_of_memory',
        `${r.function} ran out of memory (limit ${memoryBytes} bytes) and was killed`,
        {
          hint: 'raise limits.memory in agni.yaml',
          details,
        },
      );
    case 'error':
      return new AgniError('sandbox_error', `${r.function}: ${r.error ?? 'the sandbox failed'}`, { details });
    default:
      return undefined;
  }
}

/** `Type: message` of a Lambda error document, bounded (it names the failure in answers and records). */
export function lambdaErrorLine(type: string | undefined, doc: Buffer): string {
  let message = '';
  try {
    const d = JSON.parse(doc.toString('utf8')) as { errorMessage?: unknown };
    if (typeof d.errorMessage === 'string') message = d.errorMessage;
  } catch {
    // not JSON: the type alone
  }
  const line = message ? `${type ?? 'Unhandled'}: ${message}` : (type ?? 'Unhandled');
  return line.length > 1024 ? `${line.slice(0, 1021)}...` : line;
}

/** The event of `type` for `r` as it is now (a copy: later changes to the record do not leak in). */
export function invocationEvent(
  type: InvocationEventType,
  r: InvocationRecord,
  mode?: SandboxResult['mode'],
): InvocationEvent {
  const base: InvocationEvent = {
    type,
    id: r.id,
    function: r.function,
    version: r.version,
    alias: r.alias,
    node: r.node,
    at: Date.now(),
    status: r.status,
  };
  if (type !== 'finished') return base;
  const duration = totalMs(r.phases);
  return {
    ...base,
    mode: mode ?? 'none',
    exitCode: r.exitCode,
    error: r.error,
    ...(duration === undefined ? {} : { durationMs: duration }),
    phases: { ...r.phases },
  };
}

/**
 * Why a call its caller stopped (e.g. an HTTP client that disconnected) ended, for the record's
 * `error`: `cancelled: REASON`. Undefined when it was not stopped, or finished anyway.
 */
export function cancelReason(signal: AbortSignal | undefined, status: InvocationStatus): string | undefined {
  if (!signal?.aborted || status === 'succeeded') return undefined;
  const r: unknown = signal.reason;
  return `cancelled: ${r instanceof Error ? r.message : 'stopped by the caller'}`;
}

/** A queued invocation of `fn`, not yet stored. */
export function newRecord(
  fn: VersionRecord,
  payloadBytes: number,
  phases: PhaseTimes,
  alias: string | null = null,
): InvocationRecord {
  return {
    id: newId('inv'),
    function: fn.function,
    version: fn.version,
    alias,
    status: 'queued',
    exitCode: null,
    error: null,
    backend: '',
    node: '',
    payloadBytes,
    stdoutBytes: 0,
    stderrBytes: 0,
    stdoutTail: '',
    stderrTail: '',
    phases,
    createdAt: Date.now(),
    timeoutMs: fn.manifest.limits.timeoutMs,
    deadline: null,
  };
}

export class Invoker {
  constructor(
    private readonly store: Store,
    private readonly dispatcher: Dispatcher,
    private readonly resolver: VersionResolver,
    /** received, placed and finished events of every invocation (the log, metrics, `agni logs -f`) */
    private readonly events?: InvocationEventSink,
  ) {}

  /** Announces a recorded invocation (the async queue records its own, then calls this). */
  received(record: InvocationRecord): void {
    this.events?.publish(invocationEvent('received', record));
  }

  /**
   * Runs `name` at `opts.qualifier` (the live version when absent). Throws function_not_found,
   * version_not_found or alias_not_found before anything is recorded.
   */
  async invoke(
    name: string,
    payload: Buffer | Readable,
    receivedAt: number,
    sink: InvokeSink,
    opts: InvokeOptions = {},
  ): Promise<InvokeOutcome> {
    const { version: fn, alias } =
      opts.resolved ?? (await this.resolver.resolve(name, opts.qualifier ?? LIVE));
    const timeoutMs = callTimeout(opts.timeoutMs, fn.manifest.limits.timeoutMs, fn.function);
    // Refuse before recording anything: a 429 leaves no trace to clean up.
    this.dispatcher.admit();
    const record = newRecord(
      fn,
      Buffer.isBuffer(payload) ? payload.length : 0,
      { received: receivedAt },
      alias,
    );
    record.timeoutMs = timeoutMs;
    record.phases.queued = stamp();
    // A sync call's record is written lazily (see WriteOptions): its outcome goes to its caller. Its
    // insert goes out beside the dispatch, once the call has run RUNNING_WRITE_DELAY_MS or made
    // output (a shorter call is written once, whole, at its end); the gate holds the output until
    // the record is in.
    // Its events wait for its row, so whoever hears of the call can look it up.
    const hold = new EventHold(this.events);
    const gate = new InsertGate(
      async () => {
        await this.store.createInvocation({ ...record, phases: { ...record.phases } }, { lazy: true });
        hold.release();
      },
      sink.signal,
      RUNNING_WRITE_DELAY_MS,
    );
    hold.publish(invocationEvent('received', record));
    sink.onQueued?.(record.id, { version: fn.version, alias }, gate);
    return this.execute(record, fn, payload, sink, opts.request, undefined, gate, hold);
  }

  /**
   * Runs an invocation that is already recorded (queued) and stores how it ended. Async
   * invocations come here once per attempt, from the durable queue. The record's timeoutMs (a
   * per-call one) applies; `request` is the HTTP request it carries.
   */
  async run(
    record: InvocationRecord,
    fn: VersionRecord,
    payload: Buffer | Readable,
    sink: InvokeSink,
    request?: RequestContext,
    /** a by-reference input (async job items): the agent gives the sandbox the file on its volume */
    input?: InputRef,
  ): Promise<InvokeOutcome> {
    return this.execute(record, fn, payload, sink, request, input);
  }

  /**
   * with `gate`, a sync call: its record is being inserted, its writes may commit lazily, and its
   * events go through `hold` until the row is in
   */
  private async execute(
    record: InvocationRecord,
    fn: VersionRecord,
    payload: Buffer | Readable,
    sink: InvokeSink,
    request: RequestContext | undefined,
    input: InputRef | undefined,
    gate?: InsertGate,
    hold?: EventHold,
  ): Promise<InvokeOutcome> {
    const events = hold ?? this.events;
    const phases = record.phases;
    const stdout = new TailBuffer(TAIL_BYTES);
    const stderr = new TailBuffer(TAIL_BYTES);
    let result: SandboxResult | undefined;
    let error: unknown;
    // `running` is written when a sandbox takes the invocation, so `agni logs` tells running from
    // queued; but only once it has run RUNNING_WRITE_DELAY_MS or sent its first byte: a short call
    // then costs two store writes, not three. Updates go in order through RecordWrites, before the final.
    const writes = new RecordWrites(async (p) => {
      await gate?.inserted;
      await this.store.updateInvocation(record.id, p, { lazy: gate !== undefined });
    });
    let pending: InvocationPatch | undefined;
    let timer: NodeJS.Timeout | undefined;
    const writeRunning = () => {
      timer = undefined;
      gate?.now();
      const update = pending;
      pending = undefined;
      if (!update) return;
      writes.update(update).catch(() => {
        // only a display of progress: the final update below still records the outcome
      });
    };
    try {
      result = await this.dispatcher.dispatch({
        request: dispatchRequest({
          invocationId: record.id,
          version: fn,
          payload,
          http: request,
          timeoutMs: record.timeoutMs,
          lambda: sink.lambda,
          input,
        }),
        channel: {
          payload,
          io: {
            onStdout: (chunk) => {
              const first = stdout.total === 0;
              if (first) {
                phases.first_byte = stamp();
                gate?.now();
                // Output is on its way to the caller, who may look the call up now: say it runs.
                // (An async attempt's output goes to its store, read by nobody before it settles,
                // and its claim said `running` already: it waits for its timer like any attempt.)
                if (gate && timer) {
                  clearTimeout(timer);
                  writeRunning();
                }
              }
              stdout.push(chunk);
              return gate ? gate.pass(() => sink.onStdout(chunk, first)) : sink.onStdout(chunk, first);
            },
            onStderr: (chunk) => {
              stderr.push(chunk);
              sink.onStderr?.(chunk);
            },
            signal: gate?.signal ?? sink.signal,
          },
          hooks: {
            onPlaced: (p) => {
              // In a cluster the node confirms the placement once more (with its backend): the first
              // counts, and is the only `placed` event (a second one showed twice in `agni logs -f`).
              const first = phases.placed === undefined;
              // A confirmation that says nothing new is not written: one database write less per call.
              const same = !first && p.node === record.node && p.backend === record.backend;
              phases.placed ??= stamp();
              record.node = p.node;
              record.backend = p.backend;
              record.status = 'running';
              if (first) events?.publish(invocationEvent('placed', record));
              if (same) return;
              // In a cluster this runs twice: the latest placement wins, written in order.
              pending = { status: 'running', node: p.node, backend: p.backend, phases: { ...phases } };
              timer ??= setTimeout(writeRunning, RUNNING_WRITE_DELAY_MS);
            },
            onDispatched: () => {
              phases.dispatched = stamp();
            },
            onReady: () => {
              phases.sandbox_ready = stamp();
            },
            onStarted: () => {
              phases.started = stamp();
            },
            onDeadline: (deadline) => {
              record.deadline = deadline;
            },
          },
        },
      });
      record.status = STATUS[result.outcome];
      record.exitCode = result.exitCode;
      if (result.errorDocument) {
        // Lambda's error document is the call's output (unless a streamed response had started).
        if (stdout.total === 0) stdout.push(result.errorDocument);
        record.error = lambdaErrorLine(result.functionError, result.errorDocument);
      }
      // A streamed payload's size is known only once the sandbox took it.
      if (result.stdinBytes !== undefined) record.payloadBytes = result.stdinBytes;
    } catch (e) {
      error = e;
      record.status = 'error';
      record.error = e instanceof Error ? e.message : String(e);
    }
    phases.finished = stamp();
    clearTimeout(timer);
    timer = undefined;
    pending = undefined;
    // Ended before its insert went: the record is written once, whole, below.
    const whole = gate?.skip() ?? false;
    if (gate && !whole) {
      // An insert that failed ends the call as it did when it came first: with the store's error.
      await gate.inserted;
      await gate.drained();
    }
    const cancelled = cancelReason(sink.signal, record.status);
    if (cancelled) record.error = cancelled;
    Object.assign(record, {
      stdoutBytes: stdout.total,
      stderrBytes: stderr.total,
      stdoutTail: stdout.toString(),
      stderrTail: stderr.toString(),
    });
    try {
      if (gate && whole) await gate.written(this.store.createInvocation(record, { lazy: true }));
      else await writes.final(record);
    } finally {
      // Written whole just now, or its insert failed (the call ends with the store's error).
      hold?.release();
    }
    this.events?.publish(invocationEvent('finished', record, result?.mode));
    return { record, version: fn, result, error };
  }
}
