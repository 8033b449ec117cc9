/**
 * The updates of one invocation's record, in order and never side by side: at most one write is in
 * flight, and updates made meanwhile fold into one waiting write (later fields win). A short call's
 * progress updates (`running`, twice in a cluster: the server's placement and the node's) thus fold
 * into its final write instead of each costing a database round trip before the call may answer;
 * and no earlier update can land after a later one (two updates on two pool connections may land
 * in either order, which once left a finished call `running`).
 */
import type { InvocationPatch } from '../store/store.js';

export class RecordWrites {
  private last: Promise<void> = Promise.resolve();
  private waiting: { patch: InvocationPatch; done: Promise<void> } | undefined;
  private closed = false;

  /** `write` makes one update of the row */
  constructor(private readonly write: (patch: InvocationPatch) => Promise<void>) {}

  /**
   * Queues `patch`; settles once it is written (possibly folded into a later patch), rejects with
   * that write's error. After final() it is dropped: nothing may land after the final update.
   */
  update(patch: InvocationPatch): Promise<void> {
    if (this.closed) return Promise.resolve();
    if (this.waiting) {
      Object.assign(this.waiting.patch, patch);
      return this.waiting.done;
    }
    const waiting = { patch: { ...patch }, done: Promise.resolve() };
    // A failed earlier write does not stop later ones: the final one may still record the outcome.
    waiting.done = this.last
      .catch(() => {})
      .then(() => {
        this.waiting = undefined;
        return this.write(waiting.patch);
      });
    this.waiting = waiting;
    this.last = waiting.done;
    return waiting.done;
  }

  /** the last update: settles once it (with anything still waiting folded in) is written */
  final(patch: InvocationPatch): Promise<void> {
    const done = this.update(patch);
    this.closed = true;
    return done;
  }
}
