/** What the queue needs of an entry; both dispatchers' entries have it. */
export interface WaitingEntry {
  members: { job: { request: { version: { function: string } } }; reject(e: unknown): void }[];
  /** removes the abort listeners once the entry left the queue */
  unlisten(): void;
}

/**
 * The calls a dispatcher holds until they can start, in order: an entry is one call or a group
 * that starts together, and the count is of calls. Shared by the local and the cluster dispatcher;
 * which entry may start is theirs to say.
 */
export class WaitQueue<E extends WaitingEntry> {
  private readonly list: E[] = [];
  private jobs = 0;

  /** the entries in order (the first waited longest, or was put back in front) */
  get entries(): readonly E[] {
    return this.list;
  }

  /** calls waiting, a group's each */
  get queuedJobs(): number {
    return this.jobs;
  }

  add(e: E, front = false): void {
    if (front) this.list.unshift(e);
    else this.list.push(e);
    this.jobs += e.members.length;
  }

  /** takes `e` out of the queue; false when it had already left */
  remove(e: E): boolean {
    const i = this.list.indexOf(e);
    if (i < 0) return false;
    this.list.splice(i, 1);
    this.jobs -= e.members.length;
    e.unlisten();
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
      e.unlisten();
      for (const m of e.members) m.reject(err);
    }
    this.jobs = 0;
  }
}
