/**
 * A function's live version changed (deploy, rollback, alias move, removal) on one server: the
 * others must follow (start and stop its triggers, drop warm workers of other versions). The
 * event names the function only; each server reads what is live now from the store.
 */
import type { Logger } from 'pino';
import type { EventBus } from '../events/event-bus.js';

export const FUNCTION_CHANGED = 'function.changed';

export interface FunctionChangedEvent {
  function: string;
  /** the server instance that made the change (it has followed it already) */
  origin: string;
}

export function publishLiveChange(bus: EventBus, fn: string, origin: string, logger: Logger): void {
  const e: FunctionChangedEvent = { function: fn, origin };
  bus.publish(FUNCTION_CHANGED, e).catch((err) => {
    logger.warn({ fn, err: (err as Error).message }, 'events: could not tell other servers of a change');
  });
}

/** runs `follow(fn)` for changes made by other servers; returns the unsubscribe */
export function followLiveChanges(
  bus: EventBus,
  me: string,
  follow: (fn: string) => Promise<void>,
  logger: Logger,
): () => void {
  return bus.subscribe(FUNCTION_CHANGED, (e) => {
    if (e.origin === me || typeof e.function !== 'string') return;
    const fn = e.function;
    follow(fn).catch((err) =>
      logger.error({ fn, err: (err as Error).message }, 'could not follow a change made on another server'),
    );
  });
}
