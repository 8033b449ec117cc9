/**
 * What every agent publishes on `agni.cluster.hb` every second (src/cluster/subjects.ts): servers
 * keep their directory of live nodes from it, and a node silent for 3 s is lost.
 */
export interface NodeHeartbeat {
  node: string;
  address: string;
  /** "linux/amd64", native first */
  platforms: string[];
  backends: string[];
  slots: number;
  running: number;
  queued: number;
  memoryBytes: number;
  labels: Record<string, string>;
  /** "fn@version" held warm or prewarmed */
  warm: string[];
  state: 'ready' | 'draining';
  startedAt: number;
  sentAt: number;
}
