/**
 * Events between the servers of one Agni: "this happened, look at the store". An event is a hint,
 * never the truth: delivery is at most once (a server that was disconnected misses what was
 * published meanwhile), so every listener re-reads the store on an event and also looks again
 * now and then by itself. Embedded mode uses InProcessEventBus; cluster mode NatsEventBus.
 */
import { AgniError } from '../core/errors.js';

/** a JSON object; it crosses a network, so it is serialised even in-process */
export type BusEvent = Record<string, unknown>;

export type EventHandler = (event: BusEvent) => void;

export interface EventBus {
  /** sends `event` to every subscriber of `topic` (on every server); resolves once it is sent */
  publish(topic: string, event: object): Promise<void>;
  /** `handler` gets every event on `topic` published after this call returned; returns an unsubscribe */
  subscribe(topic: string, handler: EventHandler): () => void;
  /** ends every subscription; later publishes are refused */
  close(): Promise<void>;
}

/** dot-separated tokens of letters, digits, `_` and `-`: what a NATS subject token may safely be */
const TOPIC = /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$/;

export function checkTopic(topic: string): void {
  if (!TOPIC.test(topic) || topic.length > 200) {
    throw new AgniError('bad_request', `event topic ${JSON.stringify(topic)}: expected dot-separated words`, {
      hint: 'letters, digits, _ and - between the dots; no wildcards',
    });
  }
}

/** the event as every subscriber sees it: a fresh copy through JSON, as it would come off the wire */
export function encodeEvent(event: object): string {
  const text = JSON.stringify(event);
  if (text === undefined || !text.startsWith('{')) {
    throw new AgniError('bad_request', 'an event must be a JSON object');
  }
  return text;
}

export function closedBus(): AgniError {
  return new AgniError('backend_unavailable', 'the event bus is closed');
}
