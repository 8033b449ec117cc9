/**
 * Server side of membership: the latest heartbeat of every agent, and what its silence means. A
 * node is `lost` after 3 s without a heartbeat (three missed beats), and forgotten a while later so
 * a node that went for good leaves the list. Time is the server's own receipt time, never the
 * agent's clock. An agent that restarted (new startedAt) lost whatever it was running, so its
 * `lost` listeners fire too, even though it is back at once.
 */
import type { NatsConnection, Subscription } from 'nats';
import type { Logger } from 'pino';
import { HEARTBEAT_SUBJECT, type NodeHeartbeat, parseHeartbeat } from './node-heartbeat.js';

export type NodeState = 'ready' | 'draining' | 'lost';

export interface NodeEntry {
  heartbeat: NodeHeartbeat;
  state: NodeState;
  /** when this server last heard from it (its clock, Unix ms) */
  lastSeen: number;
}

export interface NodeDirectoryOptions {
  logger: Logger;
  /** silence after which a node is lost (default 3 s) */
  lostAfterMs?: number;
  /** silence after which a node is dropped from the list (default 10 min) */
  forgetAfterMs?: number;
  now?: () => number;
}

type Listener = () => void;

export class NodeDirectory {
  private readonly nodes = new Map<string, NodeEntry>();
  private readonly lostListeners = new Map<string, Set<Listener>>();
  private readonly changeListeners = new Set<Listener>();
  private readonly lostAfterMs: number;
  private readonly forgetAfterMs: number;
  private readonly now: () => number;
  private readonly timer: NodeJS.Timeout;
  private sub: Subscription | undefined;
  /** bad heartbeats are logged once per sender and reason, not once a second */
  private readonly complained = new Set<string>();

  constructor(private readonly opts: NodeDirectoryOptions) {
    this.lostAfterMs = opts.lostAfterMs ?? 3000;
    this.forgetAfterMs = opts.forgetAfterMs ?? 10 * 60_000;
    this.now = opts.now ?? Date.now;
    this.timer = setInterval(() => this.sweep(), Math.max(50, Math.min(500, this.lostAfterMs / 4)));
    this.timer.unref();
  }

  /** A directory fed by the heartbeats on NATS; resolves once the subscription is registered. */
  static async subscribe(
    nc: NatsConnection,
    opts: NodeDirectoryOptions & { subject?: string },
  ): Promise<NodeDirectory> {
    const d = new NodeDirectory(opts);
    d.sub = nc.subscribe(opts.subject ?? HEARTBEAT_SUBJECT, {
      callback: (err, msg) => {
        if (err) {
          opts.logger.warn({ err }, 'heartbeat subscription failed');
          return;
        }
        const hb = parseHeartbeat(msg.data);
        if ('error' in hb) {
          const key = hb.error;
          if (!d.complained.has(key)) {
            d.complained.add(key);
            opts.logger.warn({ reason: hb.error }, 'ignored a heartbeat that is not valid');
          }
          return;
        }
        d.update(hb);
      },
    });
    await nc.flush();
    return d;
  }

  /** Takes one heartbeat (the subscription calls it; so can a test or an embedded server). */
  update(hb: NodeHeartbeat): void {
    const prev = this.nodes.get(hb.node);
    const restarted = prev !== undefined && prev.heartbeat.startedAt !== hb.startedAt;
    // An old heartbeat of a restarted node that arrives late must not replace the new one.
    if (prev && !restarted && hb.sentAt < prev.heartbeat.sentAt) return;
    if (prev && restarted && hb.startedAt < prev.heartbeat.startedAt) return;
    this.nodes.set(hb.node, { heartbeat: hb, state: hb.state, lastSeen: this.now() });
    if (!prev) this.opts.logger.info({ node: hb.node, platforms: hb.platforms }, 'node joined');
    else if (prev.state === 'lost') this.opts.logger.info({ node: hb.node }, 'node is back');
    if (restarted && prev.state !== 'lost') {
      this.opts.logger.warn({ node: hb.node }, 'node restarted: its running calls are lost');
      this.fireLost(hb.node);
    }
    this.changed();
  }

  get(node: string): NodeEntry | undefined {
    return this.nodes.get(node);
  }

  /** every known node, by name */
  list(): NodeEntry[] {
    return [...this.nodes.values()].sort((a, b) => a.heartbeat.node.localeCompare(b.heartbeat.node));
  }

  isLost(node: string): boolean {
    const e = this.nodes.get(node);
    return e === undefined || e.state === 'lost';
  }

  /**
   * `cb` runs each time `node` is lost (or restarts) until the returned function is called. A node
   * already lost or unknown when asked calls back at once (on a microtask), so a caller that
   * subscribes just after the loss still learns of it.
   */
  onLost(node: string, cb: () => void): () => void {
    let set = this.lostListeners.get(node);
    if (!set) {
      set = new Set();
      this.lostListeners.set(node, set);
    }
    const entry = () => cb();
    set.add(entry);
    if (this.isLost(node)) queueMicrotask(() => set.has(entry) && entry());
    return () => {
      set.delete(entry);
      if (set.size === 0 && this.lostListeners.get(node) === set) this.lostListeners.delete(node);
    };
  }

  /** `cb` runs after any heartbeat or state change (the dispatcher retries waiting jobs then) */
  onChange(cb: () => void): () => void {
    this.changeListeners.add(cb);
    return () => this.changeListeners.delete(cb);
  }

  /** marks silent nodes lost and forgets long-silent ones; runs on a timer, callable by tests */
  sweep(): void {
    const now = this.now();
    let changed = false;
    for (const [name, e] of this.nodes) {
      const silent = now - e.lastSeen;
      if (silent >= this.forgetAfterMs) {
        this.nodes.delete(name);
        this.opts.logger.info({ node: name }, 'node forgotten after a long silence');
        changed = true;
      } else if (silent >= this.lostAfterMs && e.state !== 'lost') {
        e.state = 'lost';
        this.opts.logger.warn({ node: name, silentMs: silent }, 'node lost: no heartbeat');
        this.fireLost(name);
        changed = true;
      }
    }
    if (changed) this.changed();
  }

  private fireLost(node: string): void {
    for (const cb of [...(this.lostListeners.get(node) ?? [])]) {
      try {
        cb();
      } catch (err) {
        this.opts.logger.error({ err, node }, 'a lost-node listener failed');
      }
    }
  }

  private changed(): void {
    for (const cb of [...this.changeListeners]) {
      try {
        cb();
      } catch (err) {
        this.opts.logger.error({ err }, 'a node directory listener failed');
      }
    }
  }

  close(): void {
    clearInterval(this.timer);
    this.sub?.unsubscribe();
    this.sub = undefined;
  }
}
