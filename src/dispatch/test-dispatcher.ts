/**
 * For tests of what sits above a Dispatcher (the invoker, pipes, triggers): never full, a group is
 * its jobs each dispatched; a subclass scripts what one job does (its hooks, output and result).
 */
import type { SandboxResult } from '../sandbox/backend.js';
import type { DispatchJob } from './dispatch-request.js';
import type { Dispatcher, DispatcherStats } from './dispatcher.js';

export abstract class ScriptedDispatcher implements Dispatcher {
  constructor(private readonly slots = 1) {}
  admit(): void {}
  abstract dispatch(job: DispatchJob): Promise<SandboxResult>;
  dispatchGroup(jobs: DispatchJob[]): Promise<SandboxResult>[] {
    return jobs.map((j) => this.dispatch(j));
  }
  stats(): DispatcherStats {
    return { queued: 0, running: 0, slots: this.slots, maxQueue: this.slots };
  }
  async close(): Promise<void> {}
}
