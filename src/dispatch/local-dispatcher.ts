import { AgniError } from '../core/errors.js';
import type { SandboxResult } from '../sandbox/backend.js';
import type { DispatchJob } from './dispatch-request.js';
import type { Dispatcher, DispatcherStats } from './dispatcher.js';
import { FunctionRuns } from './function-runs.js';
import type { NodeAgent } from './node-agent.js';
import { groupRefusal, needOf, placeGroup, type SlotNeed } from './slot-groups.js';
import { WaitQueue } from './wait-queue.js';

interface Pending {
  job: DispatchJob;
  resolve(r: SandboxResult): void;
  reject(e: unknown): void;
}

/** One place in the queue: a single job, or a group whose jobs start together. */
interface Entry {
  members: Pending[];
  needs: SlotNeed[];
}

/**
 * FIFO with two limits: node slots (default: cores) and each function's `concurrency`. A job
 * whose function is at its limit waits without blocking jobs of other functions behind it. A group
 * (dispatchGroup) takes all its slots at once or waits, and holds back what queued after it.
 */
export class LocalDispatcher implements Dispatcher {
  private readonly queue = new WaitQueue<Entry>();
  private readonly runs = new FunctionRuns();
  private running = 0;
  private closing = false;
  private readonly inflight = new Set<Promise<unknown>>();

  private avgRunMs = 100;

  /** the node's slots (NodeInfo.slots), fixed for the dispatcher's life */
  private readonly slots: number;

  constructor(
    private readonly agent: NodeAgent,
    private readonly maxQueue = 256,
  ) {
    this.slots = agent.info.slots;
  }

  admit(): void {
    if (this.closing) throw new AgniError('backend_unavailable', 'the server is shutting down');
    if (this.queue.queuedJobs >= this.maxQueue) {
      throw new AgniError(
        'overloaded',
        `the queue is full (${this.maxQueue} invocations waiting for ${this.slots} slots)`,
        {
          hint: 'retry after the time in the Retry-After header, or raise `agni up --queue`',
          details: { retry_after_s: this.retryAfterSeconds() },
        },
      );
    }
  }

  /** A rough wait: the queue ahead spread over the slots at the recent run time, at least 1 s. */
  retryAfterSeconds(): number {
    return Math.max(1, Math.ceil((this.queue.queuedJobs / this.slots) * (this.avgRunMs / 1000)));
  }

  dispatch(job: DispatchJob): Promise<SandboxResult> {
    try {
      this.admit();
    } catch (e) {
      return Promise.reject(e);
    }
    return this.enqueue([job])[0]!;
  }

  dispatchGroup(jobs: DispatchJob[]): Promise<SandboxResult>[] {
    try {
      const refusal = groupRefusal(jobs.map(needOf), this.slots);
      if (refusal) throw refusal;
      this.admit();
    } catch (e) {
      return jobs.map(() => Promise.reject(e));
    }
    return this.enqueue(jobs);
  }

  private enqueue(jobs: DispatchJob[]): Promise<SandboxResult>[] {
    const members: Pending[] = [];
    const results = jobs.map(
      (job) => new Promise<SandboxResult>((resolve, reject) => members.push({ job, resolve, reject })),
    );
    // A job aborted while it waits leaves the queue with its whole group: none of them has run.
    if (this.queue.add({ members, needs: jobs.map(needOf) }, false, () => this.pump())) this.pump();
    return results;
  }

  private pump(): void {
    for (let i = 0; i < this.queue.entries.length && this.running < this.slots; ) {
      const e = this.queue.entries[i]!;
      const place = placeGroup(e.needs, this.slots - this.running, this.runs.byFunction);
      if (place === 'wait_function') {
        i++;
        continue;
      }
      if (place === 'wait_slots') break;
      this.queue.remove(e);
      for (const p of e.members) this.start(p);
    }
  }

  private start(p: Pending): void {
    const fn = p.job.request.version.function;
    this.running++;
    this.runs.started(fn);
    p.job.channel.hooks.onPlaced?.(this.agent.placement);
    const t0 = performance.now();
    const run = this.agent
      .run(p.job.request, p.job.channel)
      .then(p.resolve, p.reject)
      .finally(() => {
        this.avgRunMs = this.avgRunMs * 0.9 + (performance.now() - t0) * 0.1;
        this.running--;
        this.runs.ended(fn);
        this.inflight.delete(run);
        this.pump();
      });
    this.inflight.add(run);
  }

  /**
   * A removed function's calls that still wait for a slot never start: each is rejected with
   * `reason` (a group with one of them goes as a whole, none of it has run). Returns how many.
   */
  cancelQueued(fn: string, reason: AgniError): number {
    const n = this.queue.cancelFunction(fn, reason);
    if (n > 0) this.pump();
    return n;
  }

  /** undefined when no call of `fn` runs; else resolves once the last one ended */
  whenIdle(fn: string): Promise<void> | undefined {
    return this.runs.whenIdle(fn);
  }

  stats(): DispatcherStats {
    return {
      queued: this.queue.queuedJobs,
      running: this.running,
      slots: this.slots,
      maxQueue: this.maxQueue,
    };
  }

  async close(): Promise<void> {
    this.closing = true;
    const err = new AgniError('backend_unavailable', 'the server is shutting down');
    this.queue.rejectAll(err);
    await Promise.allSettled([...this.inflight]);
  }
}
