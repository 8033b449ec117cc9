/**
 * What Agni measures, as calls a component makes where the thing happens (an invocation ends, a
 * sandbox is made, an attempt is retried). Domain code sees only this interface; the Prometheus
 * implementation is src/app/prom-metrics.ts. Numbers that already exist as state (queue depth,
 * slots, pools) are read at scrape time through `MetricSources` instead of being pushed.
 */
import type { PhaseTimes } from './phases.js';

/** how an invocation's sandbox was had: fresh, taken from a prewarmed pool, or a long-lived worker */
export type RunMode = 'cold' | 'prewarmed' | 'warm' | 'lambda';
export const RUN_MODES: readonly RunMode[] = ['cold', 'prewarmed', 'warm', 'lambda'];

/** what a backend was asked to make: a one-shot sandbox, a prepared (pool) one, a warm worker */
export type SandboxKind = 'run' | 'prepared' | 'worker';

export interface InvocationEnded {
  function: string;
  /** the record's final status: succeeded, failed, timeout, oom, error */
  status: string;
  /** `none` when it never reached a sandbox (an error before placement) */
  mode: RunMode | 'none';
  /** the node it ran on; `none` when it was never placed */
  node: string;
  phases: PhaseTimes;
}

export interface NodeSources {
  node: string;
  dispatcher?: () => { queued: number; running: number; slots: number };
  prewarm?: () => { hits: number; misses: number; prepared: number; lost: number; current: number };
  warm?: () => { workers: number; idle: number; hits: number; starts: number };
}

export interface MetricSources {
  nodes: NodeSources[];
  /** async invocations accepted and not yet settled */
  asyncBacklog?: () => number;
}

export interface Metrics {
  invocationEnded(e: InvocationEnded): void;
  sandboxCreated(node: string, kind: SandboxKind): void;
  sandboxFailed(node: string, kind: SandboxKind): void;
  asyncRetried(fn: string): void;
  asyncDeadLettered(fn: string): void;
  jobItemSettled(fn: string, status: 'succeeded' | 'failed'): void;
  /** one image pull; `bytes` fetched from the registry (cached blobs not counted) */
  imagePulled(result: 'ok' | 'failed', bytes: number): void;
  /** state read at every scrape; a later call replaces the earlier sources */
  watch(sources: MetricSources): void;
}
