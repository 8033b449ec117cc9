/**
 * This machine's sandboxes as a node: the backend, prewarmed pools, warm workers and the agent,
 * queued behind a LocalDispatcher. `agni up` dispatches to it directly; `agni agent` serves it
 * over NATS. Either way the same code makes and stops it.
 */
import { totalmem } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { Agent, type RootfsResolver } from '../agent/agent.js';
import { LambdaKind } from '../agent/lambda-worker.js';
import { PrewarmPool } from '../agent/prewarm-pool.js';
import { WarmWorkers } from '../agent/warm-workers.js';
import { LocalDispatcher } from '../dispatch/local-dispatcher.js';
import type { Platform } from '../image/oci/media-types.js';
import type { Backend } from '../sandbox/backend.js';
import { type BackendKind, createBackend } from '../sandbox/select.js';

export interface LocalNodeOptions {
  home: string;
  backend: BackendKind;
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
}

export async function startLocalNode(o: LocalNodeOptions): Promise<LocalNode> {
  const backend = await createBackend(o.backend, o.home);
  const recovered = await backend.recover();
  // Prewarmed sandboxes: at most one per slot, and a quarter of the machine's memory in limits.
  const prewarm = backend.prepare
    ? new PrewarmPool(backend, {
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
  const warm = backend.startWorker
    ? new WarmWorkers({ startWorker: backend.startWorker.bind(backend) }, undefined, o.logger, lambda)
    : undefined;
  // A streamed payload (a pipe stage's input) is buffered for warm workers up to the payload limit.
  const agent = new Agent(
    backend,
    o.resolveRootfs,
    { node: o.node, platforms: o.platforms, slots: o.slots },
    { prewarm, warm },
    o.maxPayloadBytes,
  );
  const dispatcher = new LocalDispatcher(agent, o.maxQueue);
  return {
    backend,
    agent,
    dispatcher,
    ...(prewarm ? { prewarm } : {}),
    recovered,
    async stop() {
      await agent.shutdown();
      await backend.shutdown();
    },
  };
}
