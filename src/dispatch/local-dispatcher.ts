import type { Agent } from '../agent/agent.js';
import { AgniError } from '../core/errors.js';
import type { SandboxResult } from '../sandbox/backend.js';
import type { Dispatcher, DispatcherStats, DispatchJob } from './dispatcher.js';

interface Pending {
  job: DispatchJob;
  resolve(r: SandboxResult): void;
  reject(e: unknown): void;
}

/**
 * FIFO with two limits: node slots (default: cores) and each function's `concurrency`. A job
 * whose function is at its limit waits without blocking jobs of other functions behind it.
 */
export class LocalDispatcher implements Dispatcher {
  private readonly queue: Pending[] = [];
  private readonly runningByFn = new Map<string, number>();
  private running = 0;
  private closing = false;
  private readonly inflight = new Set<Promise<unknown>>();

  private avgRunMs = 100;

  constructor(
    private readonly agent: Agent,
    private readonly slots: number,
    private readonly maxQueue = 256,
  ) {}

  admit(): void {
    if (this.closing) throw new AgniError('backend_unavailable', 'the server is shutting down');
    if (this.queue.length >= this.maxQueue) {
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
    return Math.max(1, Math.ceil((this.queue.length / this.slots) * (this.avgRunMs / 1000)));
  }

  dispatch(job: DispatchJob): Promise<SandboxResult> {
    try {
      this.admit();
    } catch (e) {
      return Promise.reject(e);
    }
    return new Promise((resolve, reject) => {
      this.queue.push({ job, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    for (let i = 0; i < this.queue.length && this.running < this.slots; ) {
      const p = this.queue[i]!;
      const fn = p.job.version.function;
      const busy = this.runningByFn.get(fn) ?? 0;
      if (busy >= p.job.version.manifest.concurrency) {
        i++;
        continue;
      }
      this.queue.splice(i, 1);
      this.start(p, fn, busy);
    }
  }

  private start(p: Pending, fn: string, busy: number): void {
    this.running++;
    this.runningByFn.set(fn, busy + 1);
    p.job.hooks.onPlaced?.(this.agent.placement);
    const t0 = performance.now();
    const run = this.agent
      .run(p.job)
      .then(p.resolve, p.reject)
      .finally(() => {
        this.avgRunMs = this.avgRunMs * 0.9 + (performance.now() - t0) * 0.1;
        this.running--;
        const n = (this.runningByFn.get(fn) ?? 1) - 1;
        if (n === 0) this.runningByFn.delete(fn);
        else this.runningByFn.set(fn, n);
        this.inflight.delete(run);
        this.pump();
      });
    this.inflight.add(run);
  }

  stats(): DispatcherStats {
    return { queued: this.queue.length, running: this.running, slots: this.slots, maxQueue: this.maxQueue };
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const p of this.queue.splice(0))
      p.reject(new AgniError('backend_unavailable', 'the server is shutting down'));
    await Promise.allSettled([...this.inflight]);
  }
}
