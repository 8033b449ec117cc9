/**
 * Readers of the invocation event feed that every role wires the same way: JSON log lines (pino),
 * and the per-invocation metrics when an invocation finishes.
 */
import type { InvocationEvent, InvocationEventSource } from '../core/invocation-events.js';
import type { Metrics } from '../core/metrics.js';

export interface InfoLogger {
  info(obj: object, msg: string): void;
  debug(obj: object, msg: string): void;
  /** pino's: lets a line that would be dropped skip building its fields */
  isLevelEnabled?(level: string): boolean;
}

/** the fields of an event's log line: `invocation` is the key every other Agni log line uses for an id */
export function logFields(e: InvocationEvent): Record<string, unknown> {
  return {
    event: `invocation.${e.type}`,
    invocation: e.id,
    function: e.function,
    version: e.version,
    ...(e.alias ? { alias: e.alias } : {}),
    node: e.node || undefined,
    status: e.status,
    ...(e.type === 'finished'
      ? {
          mode: e.mode,
          exit_code: e.exitCode,
          duration_ms: e.durationMs === undefined ? undefined : Math.round(e.durationMs * 1000) / 1000,
          ...(e.error ? { error: e.error } : {}),
        }
      : {}),
  };
}

/**
 * One line per event: `finished` (which carries the outcome) at info, `received` and `placed` at
 * debug. Three synchronous stderr writes per call were about a tenth of the server's CPU under load;
 * the phases are in the record, and `agni logs -f` and the metrics still get every event.
 * Returns the unsubscribe function.
 */
export function logInvocations(source: InvocationEventSource, logger: InfoLogger): () => void {
  return source.subscribe((e) => {
    if (e.type === 'finished') logger.info(logFields(e), 'invocation finished');
    else if (logger.isLevelEnabled?.('debug') ?? true) logger.debug(logFields(e), `invocation ${e.type}`);
  });
}

export function meterInvocations(
  source: InvocationEventSource,
  metrics: Pick<Metrics, 'invocationEnded'>,
): () => void {
  return source.subscribe((e) => {
    if (e.type !== 'finished') return;
    metrics.invocationEnded({
      function: e.function,
      status: e.status,
      mode: e.mode ?? 'none',
      node: e.node || 'none',
      phases: e.phases ?? {},
    });
  });
}
