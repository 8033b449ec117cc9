/** The event bus of one process (embedded mode): every subscriber is in this process. */
import type { Logger } from 'pino';
import {
  type BusEvent,
  checkTopic,
  closedBus,
  type EventBus,
  type EventHandler,
  encodeEvent,
} from './event-bus.js';

export class InProcessEventBus implements EventBus {
  private readonly topics = new Map<string, Set<EventHandler>>();
  private closed = false;

  constructor(private readonly logger?: Logger) {}

  async publish(topic: string, event: object): Promise<void> {
    checkTopic(topic);
    if (this.closed) throw closedBus();
    const text = encodeEvent(event);
    const handlers = [...(this.topics.get(topic) ?? [])];
    // Never inside publish: a handler runs as it would for an event off the wire, after the
    // publisher went on, so code that works here does not break on NATS.
    setImmediate(() => {
      for (const h of handlers) {
        if (this.closed) return;
        deliver(h, JSON.parse(text) as BusEvent, topic, this.logger);
      }
    });
  }

  subscribe(topic: string, handler: EventHandler): () => void {
    checkTopic(topic);
    if (this.closed) return () => {};
    const set = this.topics.get(topic) ?? new Set<EventHandler>();
    this.topics.set(topic, set);
    // A wrapper per call, so the same function subscribed twice is two subscriptions.
    const h: EventHandler = (e) => handler(e);
    set.add(h);
    return () => {
      set.delete(h);
      if (set.size === 0 && this.topics.get(topic) === set) this.topics.delete(topic);
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.topics.clear();
  }
}

/** one handler's failure is logged and touches neither the publisher nor the other handlers */
export function deliver(h: EventHandler, e: BusEvent, topic: string, logger?: Logger): void {
  try {
    h(e);
  } catch (err) {
    logger?.error({ err, topic }, 'events: a handler threw');
  }
}
