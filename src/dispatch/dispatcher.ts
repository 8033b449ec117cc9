/**
 * A Dispatcher decides where and when an accepted invocation runs. Embedded mode uses an
 * in-process queue; cluster mode will put jobs on a NATS JetStream work queue per arch.
 */
import type { Readable } from 'node:stream';
import type { LambdaCaller } from '../core/lambda.js';
import type { RequestContext } from '../core/request-context.js';
import type { SandboxHooks, SandboxIO, SandboxResult } from '../sandbox/backend.js';
import type { VersionRecord } from '../store/store.js';

export interface Placement {
  node: string;
  backend: string;
}

export interface DispatchJob {
  invocationId: string;
  version: VersionRecord;
  payload: Buffer | Readable;
  /** the HTTP request that started it (webhooks, HTTP invokes): the function sees it as AGNI_HTTP_* */
  request?: RequestContext;
  /** a per-call timeout (ms), at most the version's limits.timeout; absent: that limit */
  timeoutMs?: number;
  io: Omit<SandboxIO, 'stdin'>;
  hooks: SandboxHooks & {
    onPlaced?(p: Placement): void;
    /** the absolute deadline (Unix ms) the sandbox will be killed at, set as it is placed */
    onDeadline?(deadline: number): void;
  };
  /** protocol: lambda only: the caller's client context / identity, as event headers */
  lambda?: LambdaCaller;
}

export interface DispatcherStats {
  queued: number;
  running: number;
  slots: number;
  /** at most this many wait; past it new work is refused with `overloaded` (HTTP 429) */
  maxQueue: number;
}

export interface Dispatcher {
  /** throws AgniError('overloaded') when the queue is full; called before anything is recorded */
  admit(): void;
  /** `job.io.signal` aborting while the job waits drops it from the queue (rejected with the reason) */
  dispatch(job: DispatchJob): Promise<SandboxResult>;
  /**
   * Jobs that must all hold a slot at the same time (the stages of a pipe): they start together or
   * wait together, so two groups never deadlock holding part of what each needs. A group that can
   * never fit (more jobs than slots, or than a function's concurrency) is refused (bad_request).
   */
  dispatchGroup(jobs: DispatchJob[]): Promise<SandboxResult>[];
  stats(): DispatcherStats;
  /** stops taking work and waits for running jobs; queued jobs are rejected. Safe to call twice. */
  close(): Promise<void>;
}
