/**
 * A sync call's record is inserted beside its dispatch, not before it: on PostgreSQL that is a
 * database round trip off the call's path. The gate keeps the promise the old order gave: nothing
 * of the call reaches its caller before its record exists. Output made before the insert is in
 * waits (in order, holding the sandbox as a slow reader would); if the insert fails, the call is
 * stopped, its output dropped, and the caller gets the store's error, as when the insert came first.
 */
export class InsertGate {
  /** aborts when the caller's signal does, or when the insert failed */
  readonly signal: AbortSignal;
  private in = false;
  private waiting = 0;
  private chain: Promise<unknown> = Promise.resolve();

  constructor(
    /** the insert of the record */
    readonly inserted: Promise<void>,
    caller?: AbortSignal,
  ) {
    // One controller fed by both, not AbortSignal.any: that one costs tens of µs a call in Node 20
    // (weak references and a finalization registry), a share of a warm call's server time.
    const stop = new AbortController();
    if (caller?.aborted) stop.abort(caller.reason);
    else caller?.addEventListener('abort', () => stop.abort(caller.reason), { once: true });
    this.signal = stop.signal;
    inserted.then(
      () => {
        this.in = true;
      },
      (e: unknown) => stop.abort(e),
    );
  }

  /**
   * Runs `deliver` at once when the record is in and nothing waits before it; else after the insert
   * and what waits, returning a promise that holds the producer meanwhile. Never rejects: once the
   * insert failed, deliveries are dropped.
   */
  pass<T>(deliver: () => T): T | Promise<unknown> {
    if (this.in && this.waiting === 0) return deliver();
    this.waiting++;
    this.chain = this.chain
      .then(() => this.inserted)
      .then(deliver)
      .catch(() => undefined)
      .finally(() => {
        this.waiting--;
      });
    return this.chain;
  }

  /** settles once every delivery waiting so far was made (or dropped) */
  drained(): Promise<unknown> {
    return this.chain;
  }
}
