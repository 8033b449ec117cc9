/**
 * The dispatcher of a cluster server: places each call on a node with the pure policy
 * (src/core/placement.ts) over the NodeDirectory's heartbeats, and runs it through that node's
 * NodeAgent. Jobs wait in a bounded queue of its own while every node that can run them is full.
 *
 * A node's load is what its last heartbeat showed of other servers' calls plus this server's own
 * calls there now (counted exactly), so one server alone never waits a heartbeat to reuse a slot.
 * A single job whose node is lost before the job started there, or that a node drained since its
 * last heartbeat refused, is placed again (at most MAX_REPLACEMENTS times); a pipe's stages are
 * not, since they only make sense together.
 */
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { NodeDirectory, NodeEntry } from '../cluster/node-directory.js';
import type { NodeHeartbeat } from '../cluster/node-heartbeat.js';
import type { VersionNeeds } from '../cluster/version-needs.js';
import { AgniError, isAgniError } from '../core/errors.js';
import { type CandidateNode, freeSlots, type PlacementNeed, rankNodes } from '../core/placement.js';
import type { SandboxResult } from '../sandbox/backend.js';
import type { VersionRecord } from '../store/store.js';
import type { DispatchJob, LocalChannel } from './dispatch-request.js';
import type { Dispatcher, DispatcherStats } from './dispatcher.js';
import { FunctionRuns } from './function-runs.js';
import type { NodeAgent } from './node-agent.js';
import { countByFunction, groupRefusal, needOf, type SlotNeed } from './slot-groups.js';
import { WaitQueue } from './wait-queue.js';

const MAX_REPLACEMENTS = 3;

export interface ClusterDispatcherOptions {
  directory: NodeDirectory;
  /** the NodeAgent that runs calls on the node of `hb` (one is made per node and incarnation) */
  agentFor: (hb: NodeHeartbeat) => NodeAgent;
  /** what a version needs of a node (src/cluster/version-needs.ts) */
  needs: VersionNeeds;
  logger: Logger;
  /** jobs that may wait for a slot; past it new work is refused with `overloaded` (429) */
  maxQueue?: number;
  /**
   * after start, how long a job no node can run waits instead of failing: heartbeats of nodes that
   * are up take a beat to arrive (default 2.5 s)
   */
  startupGraceMs?: number;
}

interface Pending {
  job: DispatchJob;
  resolve(r: SandboxResult): void;
  reject(e: unknown): void;
  placements: number;
}

interface Entry {
  members: Pending[];
  needs: PlacementNeed[];
  slotNeeds: SlotNeed[];
  /** a pipe's stages: never placed again one by one */
  group: boolean;
}

interface NodeLoad {
  inflight: number;
  /** this server's calls there when its last heartbeat arrived (they are in its `running`) */
  atHeartbeat: number;
  lastSeen: number;
  byFn: Map<string, number>;
}

const cacheKey = (v: VersionRecord) => `${v.function}@${v.version}#${v.imageId}`;

/** whether a streamed payload was read from: then it cannot be sent to another node */
const replayable = (payload: Buffer | Readable): boolean =>
  Buffer.isBuffer(payload) || !(payload as Readable & { readableDidRead?: boolean }).readableDidRead;

export class ClusterDispatcher implements Dispatcher {
  private readonly queue = new WaitQueue<Entry>();
  private running = 0;
  private closing = false;
  private readonly loads = new Map<string, NodeLoad>();
  private readonly agents = new Map<string, { startedAt: number; agent: NodeAgent }>();
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly runs = new FunctionRuns();
  private readonly needsCache = new Map<string, PlacementNeed>();
  /** nodes that refused a call, by the heartbeat (lastSeen) they refused under */
  private readonly refused = new Map<string, number>();
  private readonly maxQueue: number;
  private readonly graceUntil: number;
  private readonly graceTimer: NodeJS.Timeout;
  private readonly offChange: () => void;
  private avgRunMs = 100;

  constructor(private readonly o: ClusterDispatcherOptions) {
    this.maxQueue = o.maxQueue ?? 256;
    const grace = o.startupGraceMs ?? 2500;
    this.graceUntil = Date.now() + grace;
    // Jobs kept waiting through the grace get their answer (or a node) as it ends.
    this.graceTimer = setTimeout(() => this.pump(), grace + 10);
    this.graceTimer.unref();
    this.offChange = o.directory.onChange(() => {
      this.noteHeartbeats();
      this.pump();
    });
    this.noteHeartbeats();
  }

  admit(): void {
    if (this.closing) throw new AgniError('backend_unavailable', 'the server is shutting down');
    if (this.queue.queuedJobs >= this.maxQueue) {
      throw new AgniError(
        'overloaded',
        `the queue is full (${this.maxQueue} invocations waiting for ${this.stats().slots} slots in the cluster)`,
        {
          hint: 'retry after the time in the Retry-After header, or add nodes (`agni agent`)',
          details: { retry_after_s: this.retryAfterSeconds() },
        },
      );
    }
  }

  retryAfterSeconds(): number {
    const slots = Math.max(1, this.stats().slots);
    return Math.max(1, Math.ceil((this.queue.queuedJobs / slots) * (this.avgRunMs / 1000)));
  }

  dispatch(job: DispatchJob): Promise<SandboxResult> {
    try {
      this.admit();
    } catch (e) {
      return Promise.reject(e);
    }
    return this.enqueue([job], false)[0]!;
  }

  dispatchGroup(jobs: DispatchJob[]): Promise<SandboxResult>[] {
    try {
      // The slot count is checked per node once the eligible nodes are known.
      const refusal = groupRefusal(jobs.map(needOf), Number.MAX_SAFE_INTEGER);
      if (refusal) throw refusal;
      this.admit();
    } catch (e) {
      return jobs.map(() => Promise.reject(e));
    }
    return this.enqueue(jobs, true);
  }

  private enqueue(jobs: DispatchJob[], group: boolean): Promise<SandboxResult>[] {
    const members: Pending[] = [];
    const results = jobs.map(
      (job) =>
        new Promise<SandboxResult>((resolve, reject) =>
          members.push({ job, resolve, reject, placements: 0 }),
        ),
    );
    // Most calls are of a version seen before: placed at once, in the order they came.
    const known = jobs.map((j) => this.needsCache.get(cacheKey(j.request.version)));
    if (known.every((n) => n !== undefined)) this.queueEntry(members, group, known);
    else {
      Promise.all(jobs.map((j) => this.needsOf(j.request.version))).then(
        (needs) => this.queueEntry(members, group, needs),
        (e: unknown) => {
          for (const m of members) m.reject(e);
        },
      );
    }
    return results;
  }

  private async needsOf(v: VersionRecord): Promise<PlacementNeed> {
    const key = cacheKey(v);
    const have = this.needsCache.get(key);
    if (have) return have;
    const need = await this.o.needs(v);
    // Versions never change, so their needs do not either; the bound only limits memory.
    if (this.needsCache.size >= 1000) this.needsCache.clear();
    this.needsCache.set(key, need);
    return need;
  }

  private queueEntry(members: Pending[], group: boolean, needs: PlacementNeed[], front = false): void {
    if (this.closing) {
      const err = new AgniError('backend_unavailable', 'the server is shutting down');
      for (const m of members) m.reject(err);
      return;
    }
    const entry: Entry = { members, needs, slotNeeds: members.map((m) => needOf(m.job)), group };
    if (this.queue.add(entry, front, () => this.pump())) this.pump();
  }

  private load(node: string): NodeLoad {
    let l = this.loads.get(node);
    if (!l) {
      l = { inflight: 0, atHeartbeat: 0, lastSeen: 0, byFn: new Map() };
      this.loads.set(node, l);
    }
    return l;
  }

  /** a fresh heartbeat already counts this server's calls running there now */
  private noteHeartbeats(): void {
    for (const e of this.o.directory.list()) {
      const l = this.load(e.heartbeat.node);
      if (l.lastSeen !== e.lastSeen) {
        l.lastSeen = e.lastSeen;
        l.atHeartbeat = l.inflight;
      }
    }
  }

  private candidates(): CandidateNode[] {
    return this.o.directory.list().map((e: NodeEntry) => {
      const l = this.load(e.heartbeat.node);
      const refused = this.refused.get(e.heartbeat.node);
      if (refused !== undefined && refused !== e.lastSeen) this.refused.delete(e.heartbeat.node);
      const state = refused === e.lastSeen && e.state === 'ready' ? 'draining' : e.state;
      return { ...e.heartbeat, state, inflight: l.inflight, inflightAtHeartbeat: l.atHeartbeat };
    });
  }

  /** whether each function of the entry stays within its `concurrency` on `node` */
  private fnFits(node: string, needs: readonly SlotNeed[]): boolean {
    const byFn = this.load(node).byFn;
    for (const [fn, { n, limit }] of countByFunction(needs))
      if ((byFn.get(fn) ?? 0) + n > limit) return false;
    return true;
  }

  private pump(): void {
    if (this.queue.entries.length === 0 || this.closing) return;
    const cands = this.candidates();
    // Nodes an earlier waiting entry could use: later ones may not take their slots first, so a
    // pipe waiting for several slots on a node is not starved by single calls.
    const held = new Set<string>();
    for (let i = 0; i < this.queue.entries.length; ) {
      const e = this.queue.entries[i]!;
      let ranked: CandidateNode[];
      try {
        ranked = rankNodes(cands, e.needs);
        const most = Math.max(...ranked.map((c) => c.slots));
        if (e.members.length > most) throw this.tooBig(e.members.length, most);
      } catch (err) {
        if (Date.now() < this.graceUntil && err instanceof AgniError && err.code === 'no_node') {
          i++;
          continue;
        }
        this.queue.remove(e);
        for (const m of e.members) m.reject(err);
        continue;
      }
      const pick = ranked.find(
        (c) => !held.has(c.node) && freeSlots(c) >= e.members.length && this.fnFits(c.node, e.slotNeeds),
      );
      if (!pick) {
        for (const c of ranked) if (this.fnFits(c.node, e.slotNeeds)) held.add(c.node);
        i++;
        continue;
      }
      this.queue.remove(e);
      pick.inflight += e.members.length;
      const hb = this.o.directory.get(pick.node)!.heartbeat;
      e.members.forEach((m, k) => {
        this.start(m, hb, e.group, e.needs[k]!);
      });
    }
  }

  private tooBig(stages: number, most: number): AgniError {
    return new AgniError(
      'bad_request',
      `a pipe of ${stages} stages needs ${stages} slots at once on one node, and the nodes that can run it have at most ${most}`,
      {
        hint: 'use fewer stages, or start an agent with more slots (`agni agent --slots N`)',
        details: { stages, slots: most },
      },
    );
  }

  private agentOf(hb: NodeHeartbeat): NodeAgent {
    const have = this.agents.get(hb.node);
    if (have && have.startedAt === hb.startedAt) return have.agent;
    const agent = this.o.agentFor(hb);
    this.agents.set(hb.node, { startedAt: hb.startedAt, agent });
    return agent;
  }

  private start(p: Pending, hb: NodeHeartbeat, group: boolean, need: PlacementNeed): void {
    const node = hb.node;
    const fn = p.job.request.version.function;
    const load = this.load(node);
    load.inflight++;
    load.byFn.set(fn, (load.byFn.get(fn) ?? 0) + 1);
    this.running++;
    this.runs.started(fn);
    p.placements++;
    let released = false;
    const release = () => {
      if (released) return;
      released = true;
      load.inflight--;
      const n = (load.byFn.get(fn) ?? 1) - 1;
      if (n === 0) load.byFn.delete(fn);
      else load.byFn.set(fn, n);
      this.running--;
      this.runs.ended(fn);
    };

    const ch = p.job.channel;
    // The node's own abort: the caller's, or ours when the node is lost before the call started.
    const stop = new AbortController();
    const callerSignal = ch.io.signal;
    const onCallerAbort = () => stop.abort(callerSignal?.reason);
    if (callerSignal?.aborted) onCallerAbort();
    else callerSignal?.addEventListener('abort', onCallerAbort, { once: true });
    let started = false;
    let moved = false;
    const begin = () => {
      started = true;
    };
    const channel: LocalChannel = {
      payload: ch.payload,
      io: {
        onStdout: (chunk) => {
          if (moved) return undefined;
          begin();
          return ch.io.onStdout(chunk);
        },
        onStderr: (chunk) => {
          if (moved) return;
          begin();
          ch.io.onStderr(chunk);
        },
        signal: stop.signal,
      },
      hooks: {
        ...ch.hooks,
        onDeadline: (d) => {
          begin();
          ch.hooks.onDeadline?.(d);
        },
        onReady: () => {
          begin();
          ch.hooks.onReady?.();
        },
        onStarted: () => {
          begin();
          ch.hooks.onStarted?.();
        },
      },
    };
    const canMove = () =>
      !group &&
      !started &&
      !moved &&
      !callerSignal?.aborted &&
      replayable(ch.payload) &&
      p.placements <= MAX_REPLACEMENTS;
    const moveOn = (why: string) => {
      moved = true;
      this.o.logger.warn({ node, invocation: p.job.request.invocationId, why }, 'placing the call again');
      release();
      this.queueEntry([p], false, [need], true);
    };
    const offLost = this.o.directory.onLost(node, () => {
      if (!canMove()) return;
      stop.abort(new AgniError('backend_unavailable', `node ${node} was lost before the call started there`));
      moveOn('node lost');
    });

    const agent = this.agentOf(hb);
    ch.hooks.onPlaced?.(agent.placement);
    const t0 = performance.now();
    const run = Promise.resolve()
      .then(() => agent.run(p.job.request, channel))
      .then(
        (r) => {
          if (moved) return;
          p.resolve(r);
        },
        (e: unknown) => {
          if (moved) return;
          // A node refuses (no_node) before running anything when it was drained since its last
          // heartbeat: it is left alone until its next one says what it is.
          const refused = isAgniError(e) && e.code === 'no_node';
          if (refused) this.refused.set(node, this.o.directory.get(node)?.lastSeen ?? 0);
          if (canMove() && (refused || this.o.directory.isLost(node)))
            moveOn(refused ? e.message : 'failed on a lost node');
          else p.reject(e);
        },
      )
      .finally(() => {
        offLost();
        callerSignal?.removeEventListener('abort', onCallerAbort);
        if (!moved) this.avgRunMs = this.avgRunMs * 0.9 + (performance.now() - t0) * 0.1;
        release();
        this.inflight.delete(run);
        this.pump();
      });
    this.inflight.add(run);
  }

  /** A removed function's calls still waiting never start: each is rejected with `reason`. */
  cancelQueued(fn: string, reason: AgniError): number {
    const n = this.queue.cancelFunction(fn, reason);
    if (n > 0) this.pump();
    return n;
  }

  /** undefined when none of this server's calls of `fn` runs; else resolves once the last ended */
  whenIdle(fn: string): Promise<void> | undefined {
    return this.runs.whenIdle(fn);
  }

  stats(): DispatcherStats {
    const slots = this.o.directory
      .list()
      .filter((e) => e.state === 'ready')
      .reduce((n, e) => n + e.heartbeat.slots, 0);
    return { queued: this.queue.queuedJobs, running: this.running, slots, maxQueue: this.maxQueue };
  }

  async close(): Promise<void> {
    this.closing = true;
    this.offChange();
    clearTimeout(this.graceTimer);
    const err = new AgniError('backend_unavailable', 'the server is shutting down');
    this.queue.rejectAll(err);
    await Promise.allSettled([...this.inflight]);
  }
}
