/**
 * Agent side of membership: publishes this node's heartbeat every second. The heartbeat is made
 * fresh each time by the caller, so load, warm versions and drain state are never stale by more
 * than one interval. Publishing goes through nats.js's buffer while disconnected, and a
 * heartbeat that fails to build is logged and skipped, never fatal: a silent node is marked lost.
 */
import type { NatsConnection } from 'nats';
import type { Logger } from 'pino';
import { HEARTBEAT_INTERVAL_MS, HEARTBEAT_SUBJECT, type NodeHeartbeat } from './node-heartbeat.js';

export interface HeartbeatPublisher {
  /** publishes one now (e.g. right after a drain, so servers learn it at once) */
  beat(): void;
  /** stops publishing; safe to call twice */
  stop(): void;
}

export function publishHeartbeats(
  nc: NatsConnection,
  current: () => NodeHeartbeat,
  opts: { logger: Logger; intervalMs?: number; subject?: string },
): HeartbeatPublisher {
  const subject = opts.subject ?? HEARTBEAT_SUBJECT;
  let stopped = false;
  const beat = () => {
    if (stopped || nc.isClosed()) return;
    try {
      const hb = { ...current(), sentAt: Date.now() };
      nc.publish(subject, JSON.stringify(hb));
    } catch (e) {
      opts.logger.warn({ err: e }, 'heartbeat not sent');
    }
  };
  beat();
  const timer = setInterval(beat, opts.intervalMs ?? HEARTBEAT_INTERVAL_MS);
  timer.unref();
  return {
    beat,
    stop: () => {
      stopped = true;
      clearInterval(timer);
    },
  };
}
