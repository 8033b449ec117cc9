/**
 * A Dispatcher decides where and when an accepted invocation runs. Embedded mode uses an
 * in-process queue; cluster mode will put jobs on a NATS JetStream work queue per arch.
 */
import type { SandboxHooks, SandboxIO, SandboxResult } from '../sandbox/backend.js';
import type { VersionRecord } from '../store/store.js';

export interface Placement {
  node: string;
  backend: string;
}

export interface DispatchJob {
  invocationId: string;
  version: VersionRecord;
  payload: Buffer;
  io: Omit<SandboxIO, 'stdin'>;
  hooks: SandboxHooks & { onPlaced?(p: Placement): void };
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
  dispatch(job: DispatchJob): Promise<SandboxResult>;
  stats(): DispatcherStats;
  /** stops taking work and waits for running jobs; queued jobs are rejected. Safe to call twice. */
  close(): Promise<void>;
}
