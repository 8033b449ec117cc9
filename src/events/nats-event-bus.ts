/**
 * The event bus of a cluster: core NATS (no JetStream: events are hints, a lost one costs a
 * listener only the time until it looks again) on `agni.cluster.events.<topic>`. Every server
 * subscribes without a queue group, so each gets every event.
 */
import { connect, type NatsConnection, type Subscription } from 'nats';
import type { Logger } from 'pino';
import {
  type BusEvent,
  checkTopic,
  closedBus,
  type EventBus,
  type EventHandler,
  encodeEvent,
} from './event-bus.js';
import { deliver } from './in-process-event-bus.js';

export const EVENTS_SUBJECT_PREFIX = 'agni.cluster.events.';

export interface NatsEventBusOptions {
  logger: Logger;
  /** closes the connection at close(): true when the bus opened it (openNatsEventBus) */
  ownsConnection?: boolean;
}

export class NatsEventBus implements EventBus {
  private readonly subs = new Set<Subscription>();
  private readonly encoder = new TextEncoder();
  private readonly decoder = new TextDecoder();
  private closed = false;

  constructor(
    private readonly nc: NatsConnection,
    private readonly o: NatsEventBusOptions,
  ) {}

  async publish(topic: string, event: object): Promise<void> {
    checkTopic(topic);
    if (this.closed) throw closedBus();
    const subject = EVENTS_SUBJECT_PREFIX + topic;
    this.o.logger.debug({ subject }, 'events: publishing');
    try {
      this.nc.publish(subject, this.encoder.encode(encodeEvent(event)));
    } catch (e) {
      this.o.logger.debug({ subject, err: (e as Error).message }, 'events: publish failed');
      throw e;
    }
  }

  subscribe(topic: string, handler: EventHandler): () => void {
    checkTopic(topic);
    if (this.closed) return () => {};
    const sub = this.nc.subscribe(EVENTS_SUBJECT_PREFIX + topic, {
      callback: (err, msg) => {
        if (err) {
          this.o.logger.warn({ topic, err: err.message }, 'events: subscription ended');
          return;
        }
        let e: BusEvent;
        try {
          e = JSON.parse(this.decoder.decode(msg.data)) as BusEvent;
        } catch {
          this.o.logger.warn({ topic }, 'events: dropped an event that is not JSON');
          return;
        }
        if (e === null || typeof e !== 'object' || Array.isArray(e)) return;
        deliver(handler, e, topic, this.o.logger);
      },
    });
    this.subs.add(sub);
    return () => {
      if (this.subs.delete(sub)) sub.unsubscribe();
    };
  }

  /** resolves once the server has seen this connection's subscriptions and publishes so far */
  async flush(): Promise<void> {
    if (!this.closed) await this.nc.flush();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const s of this.subs) s.unsubscribe();
    this.subs.clear();
    if (this.o.ownsConnection && !this.nc.isClosed()) await this.nc.drain().catch(() => this.nc.close());
  }
}

/**
 * A bus on its own connection to `url` (`agni server --nats`); nats.js reconnects after a NATS
 * restart and subscribes again by itself.
 */
export async function openNatsEventBus(url: string, logger: Logger): Promise<NatsEventBus> {
  logger.debug('events: connecting to NATS');
  const nc = await connect({
    servers: url,
    name: 'agni-events',
    maxReconnectAttempts: -1,
    reconnectTimeWait: 500,
    timeout: 3_000,
  });
  logger.debug('events: connected to NATS');
  return new NatsEventBus(nc, { logger, ownsConnection: true });
}
