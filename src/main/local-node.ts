/**
 * This machine's sandboxes as a node: the backend, prewarmed pools, warm workers and the agent,
 * queued behind a LocalDispatcher. `agni up` dispatches to it directly; `agni agent` serves it
 * over NATS. Either way the same code makes and stops it.
 */
import { totalmem } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { Agent, type RootfsResolver, type SecretSource } from '../agent/agent.js';
import { LambdaKind } from '../agent/lambda-worker.js';
import { PrewarmPool } from '../agent/prewarm-pool.js';
import { WarmWorkers } from '../agent/warm-workers.js';
import type { Metrics, NodeSources } from '../core/metrics.js';
import type { VolumeDecl } from '../core/volumes.js';
import { LocalDispatcher } from '../dispatch/local-dispatcher.js';
import type { Platform } from '../image/oci/media-types.js';
import type { Backend } from '../sandbox/backend.js';
import { meteredBackend } from '../sandbox/metered-backend.js';
import { type BackendKind, createBackend } from '../sandbox/select.js';

export interface LocalNodeOptions {
  home: string;
  backend: BackendKind;
  /** the runc backend's `network: egress` address pool (absent: its default) */
  egressPool?: string;
  node: string;
  platforms: Platform[];
  slots: number;
  /** calls that may wait for a slot before new ones are refused (overloaded) */
  maxQueue?: number;
  maxPayloadBytes: number;
  /** AWS_REGION of protocol: lambda functions */
  lambdaRegion: string;
  logger: Logger;
  resolveRootfs: RootfsResolver;
  /** sandboxes made and failed are counted here (absent: not counted) */
  metrics?: Metrics;
  /** the values of the secrets a version names (absent: such versions are refused here) */
  secrets?: SecretSource;
  /** named host directories functions may mount here */
  volumes?: VolumeDecl[];
}

export interface LocalNode {
  backend: Backend;
  agent: Agent;
  dispatcher: LocalDispatcher;
  prewarm?: PrewarmPool;
  /** leftovers of a previous crashed run cleaned at start */
  recovered: number;
  /** kills running sandboxes and releases what they used (the dispatcher is closed by its owner) */
  stop(): Promise<void>;
  /** this node's state for the metrics */
  metricSources(): NodeSources;
}

export async function startLocalNode(o: LocalNodeOptions): Promise<LocalNode> {
  const backend = await createBackend(o.backend, o.home, o.egressPool);
  const recovered = await backend.recover();
  // Sandboxes made and failed are counted here; recover and shutdown still go to the backend itself.
  const sandboxes = o.metrics ? meteredBackend(backend, o.node, o.metrics) : backend;
  // Prewarmed sandboxes: at most one per slot, and a quarter of the machine's memory in limits.
  const prewarm = sandboxes.prepare
    ? new PrewarmPool(sandboxes, {
        maxSandboxes: o.slots,
        memoryBudgetBytes: Math.floor(totalmem() * 0.25),
        logger: o.logger,
      })
    : undefined;
  // Lambda workers' Runtime API: a Unix socket forwarded into each runc sandbox's own loopback.
  const lambda = new LambdaKind({
    region: o.lambdaRegion,
    ...(backend.isolated ? { socketDir: join(o.home, 'run', 'lambda') } : {}),
  });
  const warm = sandboxes.startWorker
    ? new WarmWorkers({ startWorker: sandboxes.startWorker.bind(sandboxes) }, undefined, o.logger, lambda)
    : undefined;
  // A streamed payload (a pipe stage's input) is buffered for warm workers up to the payload limit.
  const agent = new Agent(
    sandboxes,
    o.resolveRootfs,
    { node: o.node, platforms: o.platforms, slots: o.slots },
    { prewarm, warm },
    o.maxPayloadBytes,
    o.secrets,
    o.volumes ?? [],
  );
  const dispatcher = new LocalDispatcher(agent, o.maxQueue);
  return {
    backend,
    agent,
    dispatcher,
    ...(prewarm ? { prewarm } : {}),
    recovered,
    metricSources: () => ({
      node: o.node,
      dispatcher: () => dispatcher.stats(),
      ...(prewarm ? { prewarm: () => prewarm.stats() } : {}),
      ...(warm ? { warm: () => warm.totals() } : {}),
    }),
    async stop() {
      await agent.shutdown();
      await backend.shutdown();
    },
  };
}
