import { AgniError } from '../core/errors.js';

/** What the queue needs of an entry; both dispatchers' entries have it. */
export interface WaitingEntry {
  members: {
    job: {
      request: { version: { function: string } };
      channel: { io: { signal?: AbortSignal | undefined } };
    };
    reject(e: unknown): void;
  }[];
}

/**
 * The calls a dispatcher holds until they can start, in order: an entry is one call or a group
 * that starts together, and the count is of calls. Shared by the local and the cluster dispatcher;
 * which entry may start is theirs to say.
 */
export class WaitQueue<E extends WaitingEntry> {
  private readonly list: E[] = [];
  /** removes an entry's abort listeners once it left the queue */
  private readonly unlisteners = new Map<E, () => void>();
  private jobs = 0;

  /** the entries in order (the first waited longest, or was put back in front) */
  get entries(): readonly E[] {
    return this.list;
  }

  /** calls waiting, a group's each */
  get queuedJobs(): number {
    return this.jobs;
  }

  /**
   * Adds `e`, last or in front. A call aborted while it waits takes its whole entry out (none of
   * it has run): each call is rejected with the abort's reason, then `onAborted` runs. Returns
   * false when a signal had already aborted, so the entry left at once.
   */
  add(e: E, front: boolean, onAborted: () => void): boolean {
    const signals = e.members
      .map((m) => m.job.channel.io.signal)
      .filter((s): s is AbortSignal => s !== undefined);
    const onAbort = (ev: Event) => {
      if (!this.remove(e)) return;
      const reason = (ev.target as AbortSignal).reason;
      const err =
        reason instanceof Error ? reason : new AgniError('sandbox_error', 'cancelled before it started');
      for (const m of e.members) m.reject(err);
      onAborted();
    };
    if (front) this.list.unshift(e);
    else this.list.push(e);
    this.jobs += e.members.length;
    this.unlisteners.set(e, () => {
      for (const s of signals) s.removeEventListener('abort', onAbort);
    });
    for (const s of signals) s.addEventListener('abort', onAbort, { once: true });
    const aborted = signals.find((s) => s.aborted);
    if (!aborted) return true;
    onAbort({ target: aborted } as unknown as Event);
    return false;
  }

  /** takes `e` out of the queue; false when it had already left */
  remove(e: E): boolean {
    const i = this.list.indexOf(e);
    if (i < 0) return false;
    this.list.splice(i, 1);
    this.jobs -= e.members.length;
    this.unlisten(e);
    return true;
  }

  /**
   * Takes out every entry with a call of `fn` and rejects all its members with `reason`: a group
   * with one of them goes as a whole, none of it has run. Returns how many calls were rejected.
   */
  cancelFunction(fn: string, reason: Error): number {
    let n = 0;
    for (const e of [...this.list]) {
      if (!e.members.some((m) => m.job.request.version.function === fn)) continue;
      this.remove(e);
      for (const m of e.members) m.reject(reason);
      n += e.members.length;
    }
    return n;
  }

  /** empties the queue, rejecting every call with `err` */
  rejectAll(err: Error): void {
    for (const e of this.list.splice(0)) {
      this.unlisten(e);
      for (const m of e.members) m.reject(err);
    }
    this.jobs = 0;
  }

  private unlisten(e: E): void {
    this.unlisteners.get(e)?.();
    this.unlisteners.delete(e);
  }
}
