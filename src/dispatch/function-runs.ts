/**
 * Calls running per function, and who waits for a function to have none: a removal waits so,
 * before it deletes the code. Shared by the local and the cluster dispatcher.
 */
export class FunctionRuns {
  private readonly counts = new Map<string, number>();
  private readonly idleWaiters = new Map<string, (() => void)[]>();

  /** the running calls by function, as placement (placeGroup) reads them */
  get byFunction(): ReadonlyMap<string, number> {
    return this.counts;
  }

  started(fn: string): void {
    this.counts.set(fn, (this.counts.get(fn) ?? 0) + 1);
  }

  /** one call of `fn` ended; the last one wakes whoever waits in whenIdle */
  ended(fn: string): void {
    const n = (this.counts.get(fn) ?? 1) - 1;
    if (n > 0) {
      this.counts.set(fn, n);
      return;
    }
    this.counts.delete(fn);
    for (const wake of this.idleWaiters.get(fn) ?? []) wake();
    this.idleWaiters.delete(fn);
  }

  /** undefined when no call of `fn` runs; else resolves once the last one ended */
  whenIdle(fn: string): Promise<void> | undefined {
    if (!this.counts.has(fn)) return undefined;
    return new Promise((resolve) => {
      const list = this.idleWaiters.get(fn) ?? [];
      list.push(resolve);
      this.idleWaiters.set(fn, list);
    });
  }
}
