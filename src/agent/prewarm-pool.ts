/**
 * Prewarmed pools for cold-lifecycle functions: per (function, version) on this node, prepared
 * sandboxes wait (backend.prepare) so an invocation only pays the exec of its command. Each
 * sandbox still serves exactly one invocation. Pool size follows recent demand between the
 * manifest's pool.min and pool.max (pool-sizing.ts), shrinks to min when idle, and the node's
 * waiting sandboxes stay within a budget (count and summed memory limits).
 */
import { randomBytes } from 'node:crypto';
import { AgniError } from '../core/errors.js';
import { MAX_TIMER_MS } from '../core/manifest.js';
import type { Backend, PreparedSandbox, SandboxResult, SandboxSpec } from '../sandbox/backend.js';
import type { VersionRecord } from '../store/store.js';
import {
  budgetRoom,
  DEMAND_WINDOW_MS,
  type DemandSample,
  type PoolBounds,
  peakDemand,
  poolDelta,
  recordDemand,
  targetSize,
} from './pool-sizing.js';
import type { BaseSpec, InvocationContext, SandboxRunner } from './runner.js';

export interface PrewarmOptions {
  /** at most this many prepared sandboxes on the node (waiting or being prepared) */
  maxSandboxes: number;
  /** and at most this sum of their memory limits */
  memoryBudgetBytes: number;
  /** demand window for sizing, ms */
  windowMs?: number;
  logger?: { warn(obj: object, msg: string): void };
}

export interface PrewarmStats {
  /** invocations served by a waiting sandbox */
  hits: number;
  /** invocations that found none and ran in a fresh sandbox */
  misses: number;
  prepared: number;
  /** waiting sandboxes that died on their own and were dropped */
  lost: number;
  /** prepared sandboxes on the node now (waiting or being prepared) */
  current: number;
}

interface VersionPool {
  key: string;
  fn: string;
  version: number;
  base: SandboxSpec;
  bounds: PoolBounds;
  memoryBytes: number;
  ready: PreparedSandbox[];
  preparing: number;
  pending: Set<Promise<void>>;
  inflight: number;
  samples: DemandSample[];
  lastUsed: number;
  idleTimer?: NodeJS.Timeout;
  drained: boolean;
  /** consecutive prepare failures or losses: refilling pauses at MAX_FAILURES until a hit */
  failures: number;
}

const MAX_FAILURES = 3;

export class PrewarmPool implements SandboxRunner {
  private readonly pools = new Map<string, VersionPool>();
  private readonly tracked = new Set<Promise<void>>();
  private closed = false;
  private shuttingDown: Promise<void> | undefined;
  private readonly counts = { hits: 0, misses: 0, prepared: 0, lost: 0 };
  private readonly windowMs: number;

  constructor(
    private readonly backend: Backend,
    private readonly opts: PrewarmOptions,
  ) {
    this.windowMs = opts.windowMs ?? DEMAND_WINDOW_MS;
    if (!backend.prepare)
      throw new AgniError('sandbox_error', `the ${backend.name} backend cannot prepare sandboxes`);
  }

  stats(): PrewarmStats {
    return { ...this.counts, current: this.usage().count };
  }

  held(): string[] {
    return [...this.pools.values()].filter((p) => p.ready.length > 0).map((p) => p.key);
  }

  async run(v: VersionRecord, spec: BaseSpec, inv: InvocationContext): Promise<SandboxResult> {
    if (this.closed) throw new AgniError('sandbox_error', 'the prewarm pool is shut down');
    const base = await spec();
    const pool = this.poolFor(v, base);
    clearTimeout(pool.idleTimer);
    pool.inflight++;
    pool.samples = recordDemand(pool.samples, Date.now(), pool.inflight, this.windowMs);
    const env = { ...inv.env, AGNI_INVOCATION_ID: inv.id, AGNI_DEADLINE_MS: String(inv.deadline) };
    try {
      const sb = this.take(pool);
      // Refill right away (in the background): the next invocation may already be on its way.
      this.adjust(pool);
      if (sb) {
        this.counts.hits++;
        pool.failures = 0;
        inv.hooks.onReady?.();
        const r = await sb.start({
          env,
          stdin: inv.payload,
          io: inv.io,
          deadline: inv.deadline,
          hooks: inv.hooks,
        });
        return { ...r, mode: 'prewarmed' };
      }
      // Nothing waiting: a fresh sandbox starts sooner than preparing one and then starting it.
      this.counts.misses++;
      const spec: SandboxSpec = {
        ...base,
        id: inv.id,
        // the backend's kill timer: what is left of this call's deadline (a per-call timeout)
        limits: { ...base.limits, timeoutMs: Math.max(1, inv.deadline - Date.now()) },
        env: { ...base.env, ...env },
      };
      return {
        ...(await this.backend.run(spec, { stdin: inv.payload, ...inv.io }, inv.hooks)),
        mode: 'cold',
      };
    } finally {
      pool.inflight--;
      pool.lastUsed = Date.now();
      pool.samples = recordDemand(pool.samples, pool.lastUsed, pool.inflight, this.windowMs);
      this.adjust(pool);
      this.armIdle(pool);
    }
  }

  async drain(fn: string, keep?: number): Promise<void> {
    const gone = [...this.pools.values()].filter((p) => p.fn === fn && p.version !== keep);
    await Promise.all(gone.map((p) => this.drainPool(p)));
  }

  shutdown(): Promise<void> {
    this.closed = true;
    this.shuttingDown ??= (async () => {
      await Promise.all([...this.pools.values()].map((p) => this.drainPool(p)));
      while (this.tracked.size > 0) await Promise.all([...this.tracked]);
    })();
    return this.shuttingDown;
  }

  private poolFor(v: VersionRecord, base: SandboxSpec): VersionPool {
    const key = `${v.function}@${v.version}`;
    let pool = this.pools.get(key);
    if (!pool) {
      pool = {
        key,
        fn: v.function,
        version: v.version,
        base,
        bounds: v.manifest.pool,
        memoryBytes: base.limits.memoryBytes,
        ready: [],
        preparing: 0,
        pending: new Set(),
        inflight: 0,
        samples: [],
        lastUsed: Date.now(),
        drained: false,
        failures: 0,
      };
      this.pools.set(key, pool);
    }
    pool.base = base;
    return pool;
  }

  private take(pool: VersionPool): PreparedSandbox | undefined {
    while (pool.ready.length > 0) {
      const sb = pool.ready.shift()!;
      if (sb.waiting) return sb;
    }
    return undefined;
  }

  private usage(): { count: number; memoryBytes: number } {
    let count = 0;
    let memoryBytes = 0;
    for (const p of this.pools.values()) {
      const n = p.ready.length + p.preparing;
      count += n;
      memoryBytes += n * p.memoryBytes;
    }
    return { count, memoryBytes };
  }

  /** Moves the pool toward its target: prepares more within the budget, or destroys extras. */
  private adjust(pool: VersionPool): void {
    if (this.closed || pool.drained) return;
    const now = Date.now();
    const peak = peakDemand(pool.samples, now, this.windowMs);
    const target = targetSize(pool.bounds, peak, pool.inflight, pool.lastUsed, now);
    const u = this.usage();
    const room = budgetRoom(
      {
        ...u,
        maxCount: this.opts.maxSandboxes,
        maxMemoryBytes: this.opts.memoryBudgetBytes,
      },
      pool.memoryBytes,
    );
    const delta = poolDelta(pool.ready.length + pool.preparing, target, room);
    for (let i = 0; i < -delta && pool.ready.length > 0; i++) this.destroy(pool.ready.pop()!);
    if (pool.failures >= MAX_FAILURES) return;
    for (let i = 0; i < delta; i++) this.prepareOne(pool);
    if (pool.ready.length + pool.preparing + pool.inflight === 0 && target === 0) {
      clearTimeout(pool.idleTimer);
      this.pools.delete(pool.key); // idle and empty: only its demand history goes
    }
  }

  private prepareOne(pool: VersionPool): void {
    pool.preparing++;
    const base = pool.base;
    const id = `${base.id.slice(0, 50)}-p${randomBytes(4).toString('hex')}`;
    const p = this.backend.prepare!({ ...base, id }).then(
      (sb) => {
        pool.preparing--;
        if (this.closed || pool.drained) {
          this.destroy(sb);
          return;
        }
        this.counts.prepared++;
        pool.ready.push(sb);
        sb.onLost(() => {
          const i = pool.ready.indexOf(sb);
          if (i < 0) return; // taken or destroyed by the pool
          pool.ready.splice(i, 1);
          this.counts.lost++;
          pool.failures++;
          this.adjust(pool);
        });
      },
      (e: unknown) => {
        pool.preparing--;
        pool.failures++;
        this.opts.logger?.warn(
          { err: e, function: pool.fn, version: pool.version },
          'cannot prepare a sandbox',
        );
      },
    );
    pool.pending.add(p);
    void p.finally(() => pool.pending.delete(p));
    this.track(p);
  }

  private armIdle(pool: VersionPool): void {
    clearTimeout(pool.idleTimer);
    if (this.closed || pool.drained || pool.inflight > 0) return;
    pool.idleTimer = setTimeout(() => this.adjust(pool), Math.min(pool.bounds.idleMs + 10, MAX_TIMER_MS));
    pool.idleTimer.unref();
  }

  private async drainPool(pool: VersionPool): Promise<void> {
    pool.drained = true;
    clearTimeout(pool.idleTimer);
    if (this.pools.get(pool.key) === pool) this.pools.delete(pool.key);
    for (const sb of pool.ready.splice(0)) this.destroy(sb);
    // Those still being prepared are destroyed as soon as they are ready (pool.drained).
    while (pool.pending.size > 0) await Promise.all([...pool.pending]);
    await Promise.all([...this.tracked]);
  }

  private destroy(sb: PreparedSandbox): void {
    this.track(sb.destroy().catch(() => {}));
  }

  private track(p: Promise<void>): void {
    this.tracked.add(p);
    void p.finally(() => this.tracked.delete(p));
  }
}
