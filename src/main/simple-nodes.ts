/**
 * A stand-in for cluster placement until ClusterDispatcher and NodeDirectory (src/dispatch,
 * src/cluster) replace it: it keeps the nodes whose heartbeats arrived in the last SILENCE_MS, and
 * places each call on the live node with the fewest calls this server has in flight there. The
 * node's own LocalDispatcher queues behind its slots. Kept in this one file so it is swapped whole.
 */
import type { NatsConnection } from 'nats';
import type { Logger } from 'pino';
import type { NodeHeartbeat } from '../cluster/node-heartbeat.js';
import { HEARTBEAT_SUBJECT } from '../cluster/subjects.js';
import { AgniError } from '../core/errors.js';
import type { DispatchJob } from '../dispatch/dispatch-request.js';
import type { Dispatcher, DispatcherStats } from '../dispatch/dispatcher.js';
import { NatsNodeAgent } from '../dispatch/nats/nats-node-agent.js';
import { SILENCE_MS } from '../dispatch/nats/wire.js';
import { parsePlatform } from '../image/oci/platform.js';
import type { SandboxResult } from '../sandbox/backend.js';

interface LiveNode {
  hb: NodeHeartbeat;
  seen: number;
  agent: NatsNodeAgent;
  inFlight: number;
  lost: boolean;
  onLost: Set<() => void>;
}

export class SimpleNodes implements Dispatcher {
  private readonly nodes = new Map<string, LiveNode>();
  private readonly running = new Set<Promise<unknown>>();
  private closing = false;
  /** aborted at close: calls still running are killed, as `agni up` kills its sandboxes */
  private readonly stopping = new AbortController();
  private readonly sub;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly nc: NatsConnection,
    private readonly logger: Logger,
  ) {
    this.sub = nc.subscribe(HEARTBEAT_SUBJECT, {
      callback: (err, m) => {
        if (err) return;
        try {
          this.heard(m.json<NodeHeartbeat>());
        } catch {
          logger.debug('a heartbeat that is not JSON, ignored');
        }
      },
    });
    this.timer = setInterval(() => this.sweep(), 500);
  }

  /** settles once NATS has the heartbeat subscription */
  ready(): Promise<void> {
    return this.nc.flush();
  }

  private heard(hb: NodeHeartbeat): void {
    const known = this.nodes.get(hb.node);
    if (known && !known.lost) {
      known.hb = hb;
      known.seen = Date.now();
      return;
    }
    const n: LiveNode = {
      hb,
      seen: Date.now(),
      inFlight: 0,
      lost: false,
      onLost: new Set(),
      agent: undefined!,
    };
    n.agent = new NatsNodeAgent(
      this.nc,
      { node: hb.node, platforms: hb.platforms.map((p) => parsePlatform(p)), slots: hb.slots },
      {
        logger: this.logger,
        backend: hb.backends[0] ?? 'remote',
        isLost: () => n.lost,
        onLost: (cb) => {
          n.onLost.add(cb);
          return () => n.onLost.delete(cb);
        },
      },
    );
    this.nodes.set(hb.node, n);
    this.logger.info({ node: hb.node, platforms: hb.platforms, slots: hb.slots }, 'node joined');
  }

  private sweep(): void {
    const now = Date.now();
    for (const [name, n] of this.nodes) {
      if (now - n.seen <= SILENCE_MS) continue;
      n.lost = true;
      this.nodes.delete(name);
      this.logger.warn({ node: name }, 'node lost: no heartbeat for 3s');
      for (const cb of [...n.onLost]) cb();
    }
  }

  /** the live nodes, as their last heartbeats say */
  list(): NodeHeartbeat[] {
    return [...this.nodes.values()].map((n) => n.hb);
  }

  admit(): void {
    if (this.closing) throw new AgniError('backend_unavailable', 'the server is shutting down');
  }

  private pick(): LiveNode {
    const live = [...this.nodes.values()].filter((n) => n.hb.state === 'ready');
    if (live.length === 0)
      throw new AgniError('backend_unavailable', 'no agent node is live in this cluster', {
        hint: 'start one with `agni agent --nats URL` (or `agni server --agent`)',
      });
    return live.reduce((a, b) => (b.inFlight / b.hb.slots < a.inFlight / a.hb.slots ? b : a));
  }

  private runOn(n: LiveNode, job: DispatchJob): Promise<SandboxResult> {
    n.inFlight++;
    job.channel.hooks.onPlaced?.(n.agent.placement);
    const own = job.channel.io.signal;
    const signal = own ? AbortSignal.any([own, this.stopping.signal]) : this.stopping.signal;
    const channel = { ...job.channel, io: { ...job.channel.io, signal } };
    const run = n.agent.run(job.request, channel).finally(() => {
      n.inFlight--;
      this.running.delete(run);
    });
    this.running.add(run);
    return run;
  }

  dispatch(job: DispatchJob): Promise<SandboxResult> {
    try {
      this.admit();
      return this.runOn(this.pick(), job);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /** a pipe's stages all run on one node */
  dispatchGroup(jobs: DispatchJob[]): Promise<SandboxResult>[] {
    try {
      this.admit();
      const n = this.pick();
      return jobs.map((j) => this.runOn(n, j));
    } catch (e) {
      return jobs.map(() => Promise.reject(e));
    }
  }

  stats(): DispatcherStats {
    const nodes = [...this.nodes.values()];
    return {
      queued: 0,
      running: nodes.reduce((s, n) => s + n.inFlight, 0),
      slots: nodes.reduce((s, n) => s + n.hb.slots, 0),
      maxQueue: 0,
    };
  }

  async close(): Promise<void> {
    this.closing = true;
    this.stopping.abort(new AgniError('backend_unavailable', 'the server is shutting down'));
    await Promise.allSettled([...this.running]);
    clearInterval(this.timer);
    this.sub.unsubscribe();
  }
}
