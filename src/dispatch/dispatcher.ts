/**
 * A Dispatcher decides where and when an accepted invocation runs. Embedded mode uses an
 * in-process queue; cluster mode will put jobs on a NATS JetStream work queue per arch.
 */
import type { SandboxResult } from '../sandbox/backend.js';
import type { DispatchJob } from './dispatch-request.js';

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
  /** `job.channel.io.signal` aborting while the job waits drops it from the queue (rejected with the reason) */
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
