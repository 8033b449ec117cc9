/**
 * Invocation events across the servers of a cluster, so `agni logs -f` on one server shows calls
 * made through another. Each server publishes its own events on the event bus, tagged with its
 * instance, and feeds the others' into a feed of its own for the live stream only: its log lines
 * and metrics stay its own (Prometheus scrapes every server, so a call counted twice would lie).
 * An event heard back from the bus with this server's tag is dropped: no duplicates, no loops.
 */
import type { Logger } from 'pino';
import type { InvocationEvent } from '../core/invocation-events.js';
import type { EventBus } from '../events/event-bus.js';
import { InvocationFeed } from './invocation-feed.js';

export const INVOCATION_EVENT = 'invocation.event';

interface SharedInvocationEvent {
  origin: string;
  event: InvocationEvent;
}

const isEvent = (e: unknown): e is InvocationEvent =>
  typeof e === 'object' &&
  e !== null &&
  typeof (e as InvocationEvent).id === 'string' &&
  typeof (e as InvocationEvent).type === 'string' &&
  typeof (e as InvocationEvent).function === 'string';

/** `local`'s events and other servers' in one feed; close() stops both directions */
export function shareInvocations(
  local: InvocationFeed,
  bus: EventBus,
  me: string,
  logger: Logger,
): { feed: InvocationFeed; close(): void } {
  const feed = new InvocationFeed((err) => logger.error({ err }, 'invocation event listener failed'));
  const unlocal = local.subscribe((event) => {
    feed.publish(event);
    const shared: SharedInvocationEvent = { origin: me, event };
    bus.publish(INVOCATION_EVENT, shared).catch((err) => {
      logger.debug(
        { id: event.id, err: (err as Error).message },
        'events: could not share an invocation event',
      );
    });
  });
  const unbus = bus.subscribe(INVOCATION_EVENT, (e) => {
    if (e.origin === me || typeof e.origin !== 'string' || !isEvent(e.event)) return;
    feed.publish(e.event);
  });
  return {
    feed,
    close() {
      unlocal();
      unbus();
    },
  };
}
