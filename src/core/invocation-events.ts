/**
 * One event per step of an invocation's life, as plain data (it crosses a network once cluster
 * mode's EventBus carries it). The Invoker publishes them; the log, the metrics and
 * `GET /v1/invocations/stream` (`agni logs -f`) subscribe.
 */
import type { RunMode } from './metrics.js';
import type { PhaseTimes } from './phases.js';

export type InvocationEventType = 'received' | 'placed' | 'finished';

export interface InvocationEvent {
  type: InvocationEventType;
  id: string;
  function: string;
  version: number;
  alias: string | null;
  /** empty until placed */
  node: string;
  /** Unix ms the event happened */
  at: number;
  /** received: queued; placed: running; finished: how it ended */
  status: string;
  /** finished only */
  mode?: RunMode | 'none';
  exitCode?: number | null;
  error?: string | null;
  /** received → finished, ms (finished only) */
  durationMs?: number;
  phases?: PhaseTimes;
}

export type InvocationListener = (e: InvocationEvent) => void;

/** where the Invoker puts events */
export interface InvocationEventSink {
  publish(e: InvocationEvent): void;
}

/**
 * where readers take them from: the in-process feed (src/app/invocation-feed.ts) or, in cluster
 * mode, an adapter over the EventBus. `subscribe` returns the unsubscribe function.
 */
export interface InvocationEventSource {
  subscribe(listener: InvocationListener): () => void;
}
