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

  constructor(
    private readonly agent: Agent,
    private readonly slots: number,
  ) {}

  dispatch(job: DispatchJob): Promise<SandboxResult> {
    if (this.closing)
      return Promise.reject(new AgniError('backend_unavailable', 'the server is shutting down'));
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
    const run = this.agent
      .run(p.job)
      .then(p.resolve, p.reject)
      .finally(() => {
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
    return { queued: this.queue.length, running: this.running, slots: this.slots };
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const p of this.queue.splice(0))
      p.reject(new AgniError('backend_unavailable', 'the server is shutting down'));
    await Promise.allSettled([...this.inflight]);
  }
}
