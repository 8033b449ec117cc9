/**
 * The heartbeat of a node this process runs: what `agni agent` publishes every second, and what
 * `agni up` lists as its one node. Made fresh on each call from live counters.
 */
import type { Platform } from '../image/oci/media-types.js';
import { formatPlatform } from '../image/oci/platform.js';
import type { NodeHeartbeat } from './node-heartbeat.js';

/** What a node says of itself that does not change while it runs: its heartbeat's fixed fields. */
export interface NodeDescription {
  address: string;
  platforms: readonly Platform[];
  backends: readonly string[];
  slots: number;
  memoryBytes: number;
  labels?: Record<string, string>;
  /** names of the volumes declared on this node (`agni agent --volume`) */
  volumes?: readonly string[];
}

export interface LocalNodeSource extends NodeDescription {
  node: string;
  startedAt: number;
  /** calls running and waiting on this node now (its dispatcher's stats) */
  load(): { running: number; queued: number };
  /** "fn@version" held warm or prewarmed (Agent.warmVersions) */
  warm(): string[];
  state?(): 'ready' | 'draining';
}

export function localHeartbeat(s: LocalNodeSource): () => NodeHeartbeat {
  const platforms = s.platforms.map(formatPlatform);
  return () => {
    const { running, queued } = s.load();
    return {
      node: s.node,
      address: s.address,
      platforms,
      backends: [...s.backends],
      slots: s.slots,
      running,
      queued,
      memoryBytes: s.memoryBytes,
      labels: { ...(s.labels ?? {}) },
      warm: s.warm(),
      ...(s.volumes && s.volumes.length > 0 ? { volumes: [...s.volumes] } : {}),
      state: s.state?.() ?? 'ready',
      startedAt: s.startedAt,
      sentAt: Date.now(),
    };
  };
}
