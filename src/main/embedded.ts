/**
 * Composition root of embedded mode (`agni up`): one process with the API, the state store
 * (SQLite by default), and this machine's sandboxes as the only node, behind an in-process queue.
 */
import { totalmem } from 'node:os';
import type { PrewarmPool } from '../agent/prewarm-pool.js';
import { localHeartbeat } from '../cluster/local-heartbeat.js';
import { LocalNodeAdmin } from '../cluster/node-admin.js';
import { regionOf } from '../core/lambda.js';
import type { Backend } from '../sandbox/backend.js';
import type { BackendKind } from '../sandbox/select.js';
import {
  type CloseReport,
  type Control,
  type ControlOptions,
  type Execution,
  startControl,
} from './control.js';
import { type LocalNode, startLocalNode } from './local-node.js';

export type { CloseReport } from './control.js';

export interface EmbeddedOptions extends ControlOptions {
  backend: BackendKind;
  egressPool?: string;
}

export interface Embedded extends Control {
  backend: Backend;
  /** leftovers of a previous crashed run that were cleaned at start */
  recovered: number;
  /** prewarmed pools (absent when the backend cannot prepare sandboxes ahead) */
  prewarm?: PrewarmPool;
  close(): Promise<CloseReport>;
}

export async function startEmbedded(o: EmbeddedOptions): Promise<Embedded> {
  let local: LocalNode | undefined;
  const control = await startControl(o, async (ctx) => {
    const n = await startLocalNode({
      home: o.home,
      backend: o.backend,
      ...(o.egressPool ? { egressPool: o.egressPool } : {}),
      node: ctx.node,
      platforms: ctx.platforms,
      slots: o.slots,
      maxQueue: o.maxQueue,
      maxPayloadBytes: o.maxPayloadBytes,
      lambdaRegion: regionOf(o.lambdaRegion),
      logger: ctx.logger,
      resolveRootfs: ctx.resolveRootfs,
      metrics: ctx.metrics,
      secrets: ctx.secrets,
      volumes: ctx.volumes,
    });
    local = n;
    return {
      ...localExecution(n, 'embedded'),
      // `agni nodes` works in both modes: here it lists this one node.
      nodes: new LocalNodeAdmin(
        localHeartbeat({
          node: ctx.node,
          address: o.host,
          platforms: ctx.platforms,
          backends: [n.backend.name],
          slots: o.slots,
          memoryBytes: totalmem(),
          startedAt: Date.now(),
          load: () => n.dispatcher.stats(),
          warm: () => n.agent.warmVersions(),
          volumes: ctx.volumes.map((d) => d.name),
        }),
      ),
      metricNodes: () => [n.metricSources()],
    };
  });
  const n = local!;
  return {
    ...control,
    backend: n.backend,
    recovered: n.recovered,
    ...(n.prewarm ? { prewarm: n.prewarm } : {}),
  };
}

/** A local node as what the API runs calls on. */
export function localExecution(n: LocalNode, mode: string): Execution {
  return {
    dispatcher: n.dispatcher,
    cancelQueued: n.dispatcher.cancelQueued.bind(n.dispatcher),
    whenIdle: n.dispatcher.whenIdle.bind(n.dispatcher),
    drain: (fn: string, keep: number | undefined) => n.agent.drain(fn, keep),
    info: () => ({ mode, backend: n.backend.name, isolated: n.backend.isolated }),
    recovered: n.recovered,
    stop: () => n.stop(),
  };
}
