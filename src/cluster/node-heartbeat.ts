/**
 * What every agent tells the servers once a second on `agni.cluster.hb`: who it is, what it can
 * run, how busy it is and what it holds warm. Plain JSON; a server trusts a heartbeat only after
 * it passed the schema below, so one bad agent cannot break placement for the others.
 */
import { z } from 'zod';
import { VOLUME_NAME_RE } from '../core/volumes.js';

export const HEARTBEAT_SUBJECT = 'agni.cluster.hb';
/** how often an agent publishes */
export const HEARTBEAT_INTERVAL_MS = 1000;

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
  /** the names of the volumes the operator declared on the node (`agni agent --volume`); absent: none */
  volumes?: string[];
  state: 'ready' | 'draining';
  startedAt: number;
  sentAt: number;
}

/** a node name: also a NATS subject token (`agni.cluster.node.<name>.run`), so no dots or wildcards */
export const NODE_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$/;

const count = z.number().int().min(0);

export const nodeHeartbeatSchema = z
  .object({
    node: z.string().regex(NODE_NAME_RE, 'letters, digits, _ and -, at most 63'),
    address: z.string().max(256),
    platforms: z.array(z.string().regex(/^[a-z0-9_.-]+\/[a-z0-9_.-]+(\/[a-z0-9_.-]+)?$/)).max(32),
    backends: z.array(z.string().min(1).max(32)).max(8),
    slots: count.max(100_000),
    running: count,
    queued: count,
    memoryBytes: count,
    labels: z.record(z.string().max(128), z.string().max(256)),
    warm: z.array(z.string().max(200)).max(10_000),
    volumes: z.array(z.string().regex(VOLUME_NAME_RE)).max(256).optional(),
    state: z.enum(['ready', 'draining']),
    startedAt: count,
    sentAt: count,
  })
  .strict();

/** The heartbeat in `bytes`, or why it is not one (the first problem, naming its field). */
export function parseHeartbeat(bytes: Uint8Array): NodeHeartbeat | { error: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return { error: 'not JSON' };
  }
  const r = nodeHeartbeatSchema.safeParse(raw);
  if (r.success) return r.data;
  const issue = r.error.issues[0]!;
  return { error: `${issue.path.map(String).join('.') || '(message)'}: ${issue.message}` };
}

/** the `warm` entry of a version */
export const warmKey = (fn: string, version: number): string => `${fn}@${version}`;
