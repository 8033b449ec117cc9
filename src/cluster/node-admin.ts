/**
 * What `GET /v1/nodes` lists and `agni node drain|resume` changes: the cluster's nodes as this
 * server's directory knows them, or, in `agni up`, the one local node.
 */
import type { NatsConnection } from 'nats';
import { AgniError } from '../core/errors.js';
import { type NodeControlOp, sendNodeControl } from './node-control.js';
import type { NodeDirectory, NodeEntry, NodeState } from './node-directory.js';
import type { NodeHeartbeat } from './node-heartbeat.js';

export interface NodeView {
  name: string;
  state: NodeState;
  address: string;
  platforms: string[];
  backends: string[];
  slots: number;
  running: number;
  queued: number;
  /** slots not taken by running calls */
  free: number;
  memoryBytes: number;
  labels: Record<string, string>;
  warm: string[];
  startedAt: number;
  /** how long ago the last heartbeat arrived (ms); 0 for `agni up`'s own node */
  lastHeartbeatMs: number;
}

export interface NodeAdmin {
  list(): NodeView[];
  /** throws AgniError not_found naming an unknown node */
  drain(name: string): Promise<NodeView>;
  resume(name: string): Promise<NodeView>;
}

export function nodeView(hb: NodeHeartbeat, state: NodeState, lastHeartbeatMs: number): NodeView {
  return {
    name: hb.node,
    state,
    address: hb.address,
    platforms: hb.platforms,
    backends: hb.backends,
    slots: hb.slots,
    running: hb.running,
    queued: hb.queued,
    free: Math.max(0, hb.slots - hb.running),
    memoryBytes: hb.memoryBytes,
    labels: hb.labels,
    warm: hb.warm,
    startedAt: hb.startedAt,
    lastHeartbeatMs,
  };
}

function unknownNode(name: string, known: string[]): AgniError {
  return new AgniError('not_found', `no node named ${name}`, {
    hint: known.length
      ? `known nodes: ${known.join(', ')} (see \`agni nodes\`)`
      : 'no node has sent a heartbeat yet',
    details: { node: name },
  });
}

/** A cluster server's view: the directory, and drain/resume sent to the agents over NATS. */
export class ClusterNodeAdmin implements NodeAdmin {
  constructor(
    private readonly directory: NodeDirectory,
    private readonly nc: NatsConnection,
    private readonly now: () => number = Date.now,
  ) {}

  private view(e: NodeEntry): NodeView {
    return nodeView(e.heartbeat, e.state, Math.max(0, this.now() - e.lastSeen));
  }

  list(): NodeView[] {
    return this.directory.list().map((e) => this.view(e));
  }

  private async control(name: string, op: NodeControlOp): Promise<NodeView> {
    const e = this.directory.get(name);
    if (!e)
      throw unknownNode(
        name,
        this.directory.list().map((x) => x.heartbeat.node),
      );
    const { state } = await sendNodeControl(this.nc, name, op);
    // The next heartbeat says so too; until then the answer shows the state the agent confirmed.
    return { ...this.view(e), state };
  }

  drain(name: string): Promise<NodeView> {
    return this.control(name, 'drain');
  }

  resume(name: string): Promise<NodeView> {
    return this.control(name, 'resume');
  }
}

/** `agni up`: one node, this process; it cannot be drained (it is the only one). */
export class LocalNodeAdmin implements NodeAdmin {
  constructor(private readonly current: () => NodeHeartbeat) {}

  list(): NodeView[] {
    return [nodeView(this.current(), 'ready', 0)];
  }

  private refuse(name: string, op: NodeControlOp): never {
    const hb = this.current();
    if (name !== hb.node) throw unknownNode(name, [hb.node]);
    throw new AgniError('conflict', `node ${name} is this server's own (agni up): it cannot ${op}`, {
      hint: 'drain and resume are for the agents of a cluster (`agni agent`, docs/placement.md)',
      details: { node: name },
    });
  }

  async drain(name: string): Promise<NodeView> {
    this.refuse(name, 'drain');
  }

  async resume(name: string): Promise<NodeView> {
    this.refuse(name, 'resume');
  }
}
