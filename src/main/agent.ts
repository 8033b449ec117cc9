/**
 * Composition root of a cluster agent (`agni agent`): this machine's sandboxes as a node, served
 * over NATS to every server (src/dispatch/nats), announced by a heartbeat each second. It never
 * opens the database: what a call needs travels in its DispatchRequest.
 */
import { mkdir } from 'node:fs/promises';
import type { NatsConnection } from 'nats';
import pino, { type Logger } from 'pino';
import { checkNodeName } from '../cluster/subjects.js';
import { AgniError } from '../core/errors.js';
import { regionOf } from '../core/lambda.js';
import type { DispatchRequest } from '../dispatch/dispatch-request.js';
import { serveNodeAgent } from '../dispatch/nats/agent-service.js';
import type { NodeAgent } from '../dispatch/node-agent.js';
import type { Platform } from '../image/oci/media-types.js';
import { formatPlatform } from '../image/oci/platform.js';
import type { Backend } from '../sandbox/backend.js';
import type { BackendKind } from '../sandbox/select.js';
import { publishHeartbeats } from './agent-heartbeat.js';
import { startLocalNode } from './local-node.js';
import { connectCluster } from './nats-connect.js';

export interface AgentOptions {
  home: string;
  name: string;
  slots: number;
  labels: Record<string, string>;
  platforms: Platform[];
  backend: BackendKind;
  maxPayloadBytes: number;
  /** calls that may wait for a slot on this node */
  maxQueue?: number;
  lambdaRegion?: string;
  /** the address servers see this node at (for `agni nodes`); default its name */
  address?: string;
  /** rewrites a request for this node (code distribution); absent: the version's codeDir as it is */
  prepare?: (req: DispatchRequest) => Promise<DispatchRequest>;
  logger?: Logger;
}

export interface RunningAgent {
  name: string;
  backend: Backend;
  recovered: number;
  /** stops announcing, kills running calls (their callers get their results), releases everything */
  close(): Promise<void>;
}

/** Runs an agent on an open connection (the caller owns it: `agni server --agent` shares its own). */
export async function startAgentOn(nc: NatsConnection, o: AgentOptions): Promise<RunningAgent> {
  const logger = o.logger ?? pino({ level: process.env.AGNI_LOG_LEVEL ?? 'info' }, pino.destination(2));
  const name = checkNodeName(o.name);
  await mkdir(o.home, { recursive: true, mode: 0o700 });
  const node = await startLocalNode({
    home: o.home,
    backend: o.backend,
    node: name,
    platforms: o.platforms,
    slots: o.slots,
    maxQueue: o.maxQueue,
    maxPayloadBytes: o.maxPayloadBytes,
    lambdaRegion: regionOf(o.lambdaRegion),
    logger,
    // No database here: only a version's own image reaches this node (code distribution pulls it).
    resolveRootfs: async () => undefined,
  });
  // The node's own queue: calls from every server wait here for its slots.
  const queued: NodeAgent = {
    placement: node.agent.placement,
    info: node.agent.info,
    run: (request, channel) => node.dispatcher.dispatch({ request, channel }),
  };
  const service = serveNodeAgent(nc, name, queued, { logger, ...(o.prepare ? { prepare: o.prepare } : {}) });
  await service.ready;
  const startedAt = Date.now();
  let state: 'ready' | 'draining' = 'ready';
  const beats = publishHeartbeats(nc, () => {
    const s = node.dispatcher.stats();
    return {
      node: name,
      address: o.address ?? name,
      platforms: o.platforms.map(formatPlatform),
      backends: [node.backend.name],
      slots: s.slots,
      running: s.running,
      queued: s.queued,
      labels: o.labels,
      warm: [],
      state,
      startedAt,
    };
  });
  logger.info({ node: name, backend: node.backend.name, slots: o.slots }, 'agent serving');
  let closing: Promise<void> | undefined;
  return {
    name,
    backend: node.backend,
    recovered: node.recovered,
    close() {
      closing ??= (async () => {
        // Said once more as draining, so servers stop placing here before the calls are killed.
        state = 'draining';
        beats.send();
        beats.stop();
        await service.close();
        await node.dispatcher.close();
        await node.stop();
      })();
      return closing;
    },
  };
}

/** `agni agent`: connects to NATS and runs until close(). */
export async function startAgent(o: AgentOptions & { natsUrl: string }): Promise<RunningAgent> {
  const nc = await connectCluster(o.natsUrl, `agni-agent-${o.name}`);
  const agent = await startAgentOn(nc, o).catch(async (e) => {
    await nc.close();
    throw e;
  });
  return {
    ...agent,
    async close() {
      await agent.close();
      await nc.drain().catch(() => {});
    },
  };
}

/** `k=v,k2=v2` as labels, naming the flag on a bad one */
export function parseLabels(text: string | undefined, flag = '--labels'): Record<string, string> {
  const out: Record<string, string> = {};
  for (const part of (text ?? '')
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const m = /^([A-Za-z0-9_.-]+)=([^,=]*)$/.exec(part);
    if (!m)
      throw new AgniError(
        'bad_request',
        `${flag}: expected key=value[,key=value…], got ${JSON.stringify(part)}`,
      );
    out[m[1]!] = m[2]!;
  }
  return out;
}
