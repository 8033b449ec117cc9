/**
 * An agent's heartbeat: what it is and how busy, on `agni.cluster.hb` every second, so servers
 * know it is live and what it can take (src/cluster/node-heartbeat.ts).
 */
import { freemem } from 'node:os';
import type { NatsConnection } from 'nats';
import type { NodeHeartbeat } from '../cluster/node-heartbeat.js';
import { HEARTBEAT_SUBJECT } from '../cluster/subjects.js';

export const HEARTBEAT_MS = 1_000;

/** publishes `beat()` now and every HEARTBEAT_MS; `send` publishes one more now (a change of state) */
export function publishHeartbeats(
  nc: NatsConnection,
  beat: () => Omit<NodeHeartbeat, 'sentAt' | 'memoryBytes'>,
): { send(): void; stop(): void } {
  const send = () => {
    if (nc.isClosed()) return;
    const hb: NodeHeartbeat = { ...beat(), memoryBytes: freemem(), sentAt: Date.now() };
    nc.publish(HEARTBEAT_SUBJECT, JSON.stringify(hb));
  };
  send();
  const timer = setInterval(send, HEARTBEAT_MS);
  return { send, stop: () => clearInterval(timer) };
}
