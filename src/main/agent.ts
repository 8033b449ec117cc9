/**
 * Composition root of a cluster agent (`agni agent`): this machine's sandboxes as a node, served
 * over NATS to every server (src/dispatch/nats), announced by a heartbeat each second. It never
 * opens the database: what a call needs travels in its DispatchRequest.
 */
import { mkdir } from 'node:fs/promises';
import { totalmem } from 'node:os';
import type { NatsConnection } from 'nats';
import type { Logger } from 'pino';
import { CodeFetcher } from '../agent/code-fetcher.js';
import { NodeImageSource } from '../agent/image-source.js';
import { followLiveChanges } from '../app/live-changes.js';
import { checkVolumeDirs } from '../app/node-volumes.js';
import { startAgentMembership } from '../cluster/agent-membership.js';
import { NatsSecretSource } from '../cluster/secret-service.js';
import { checkNodeName } from '../cluster/subjects.js';
import { regionOf } from '../core/lambda.js';
import { DEFAULT_LIMITS, type UnpackLimits } from '../core/limits.js';
import type { VolumeDecl } from '../core/volumes.js';
import type { DispatchRequest } from '../dispatch/dispatch-request.js';
import { serveNodeAgent } from '../dispatch/nats/agent-service.js';
import type { NodeAgent } from '../dispatch/node-agent.js';
import { NatsEventBus } from '../events/nats-event-bus.js';
import { ContentStore } from '../image/oci/content-store.js';
import { ImageRootfsResolver } from '../image/oci/image-rootfs.js';
import type { Platform } from '../image/oci/media-types.js';
import type { Backend } from '../sandbox/backend.js';
import type { BackendKind } from '../sandbox/select.js';
import { startLocalNode } from './local-node.js';
import { connectCluster } from './nats-connect.js';
import { roleLogger } from './role-logger.js';

export interface AgentOptions {
  home: string;
  name: string;
  slots: number;
  labels: Record<string, string>;
  platforms: Platform[];
  backend: BackendKind;
  /** the `network: egress` address pool (absent: the backend's default) */
  egressPool?: string;
  maxPayloadBytes: number;
  /** calls that may wait for a slot on this node */
  maxQueue?: number;
  lambdaRegion?: string;
  /** the address servers see this node at (for `agni nodes`); default its name */
  address?: string;
  /** rewrites a request for this node; default: code and image fetched by digest from the registry */
  prepare?: (req: DispatchRequest) => Promise<DispatchRequest>;
  /** the cluster registry as this node reaches it (default: the host the server recorded) */
  registry?: string;
  /** http for a registry that is not on loopback */
  insecureRegistry?: boolean;
  /** what one image layer may unpack to */
  unpack?: UnpackLimits;
  /** named host directories functions may mount here (`agni agent --volume`; a shared filesystem) */
  volumes?: VolumeDecl[];
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
  const logger = o.logger ?? roleLogger();
  const name = checkNodeName(o.name);
  const volumes = await checkVolumeDirs(o.volumes ?? []);
  await mkdir(o.home, { recursive: true, mode: 0o700 });
  const limits = o.unpack ?? DEFAULT_LIMITS.unpack;
  // No database here: every image and every version's code comes from the cluster registry, by
  // digest, into this node's own content store (CodeFetcher), and is resolved from there.
  const content = new ContentStore(o.home);
  const images = new NodeImageSource(
    undefined,
    new ImageRootfsResolver(o.home, content, limits),
    o.platforms,
    name,
  );
  const fetcher = new CodeFetcher({
    home: o.home,
    content,
    platforms: o.platforms,
    ...(o.registry ? { registry: o.registry } : {}),
    ...(o.insecureRegistry ? { insecure: true } : {}),
    limits,
    logger,
  });
  const node = await startLocalNode({
    home: o.home,
    backend: o.backend,
    ...(o.egressPool ? { egressPool: o.egressPool } : {}),
    node: name,
    platforms: o.platforms,
    slots: o.slots,
    maxQueue: o.maxQueue,
    maxPayloadBytes: o.maxPayloadBytes,
    lambdaRegion: regionOf(o.lambdaRegion),
    logger,
    resolveRootfs: (id, what) => images.resolve(id, what),
    // No database here: the servers send a version's secrets, sealed for this agent's key.
    secrets: new NatsSecretSource(nc, logger).source,
    volumes,
  });
  // The node's own queue: calls from every server wait here for its slots.
  const queued: NodeAgent = {
    placement: node.agent.placement,
    info: node.agent.info,
    run: (request, channel) => node.dispatcher.dispatch({ request, channel }),
  };
  // Heartbeats, drain/resume (kept across restarts), and a drained node refusing new calls.
  const membership = await startAgentMembership(nc, {
    home: o.home,
    name,
    address: o.address ?? name,
    platforms: o.platforms,
    backends: [node.backend.name],
    slots: o.slots,
    memoryBytes: totalmem(),
    labels: o.labels,
    agent: queued,
    warm: () => node.agent.warmVersions(),
    load: () => node.dispatcher.stats(),
    volumes: volumes.map((d) => d.name),
    logger,
  });
  const service = serveNodeAgent(nc, name, membership.agent, {
    logger,
    prepare: o.prepare ?? fetcher.prepare,
  });
  await service.ready;
  // A new live version (or a removal), or a secret it names set again, on any server: kept
  // sandboxes of the function go; the next call makes new ones of the version it names.
  const bus = new NatsEventBus(nc, { logger });
  const unfollow = followLiveChanges(bus, `agent:${name}`, (fn) => node.agent.drain(fn, undefined), logger);
  logger.info({ node: name, backend: node.backend.name, slots: o.slots }, 'agent serving');
  let closing: Promise<void> | undefined;
  return {
    name,
    backend: node.backend,
    recovered: node.recovered,
    close() {
      closing ??= (async () => {
        unfollow();
        await bus.close().catch(() => {});
        // Said once more as draining, so servers stop placing here before the calls are killed.
        await membership.close();
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
