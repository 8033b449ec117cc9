/**
 * A sync call's record is inserted beside its dispatch, not before it: on PostgreSQL that is a
 * database round trip off the call's path. The gate keeps the promise the old order gave: nothing
 * of the call reaches its caller before its record exists. Output made before the insert is in
 * waits (in order, holding the sandbox as a slow reader would); if the insert fails, the call is
 * stopped, its output dropped, and the caller gets the store's error, as when the insert came first.
 *
 * With a delay, the insert waits that long, or until `now()` (the call's first output): a call that
 * ends sooner is never inserted half-done (`skip()`), its record is written once, whole, at its end.
 * One write a short call instead of two (an insert and the final update): a large share of a warm
 * call's server time under load.
 */
export class InsertGate {
  /** aborts when the caller's signal does, or when the insert failed */
  readonly signal: AbortSignal;
  /** settles once the insert is in (or failed); at once when skipped */
  readonly inserted: Promise<void>;
  private in = false;
  private waiting = 0;
  private chain: Promise<unknown> = Promise.resolve();
  private start: (() => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  /** the whole record's write, when skipped */
  private whole: Promise<void> | undefined;
  private readonly settle: (p: Promise<void>) => void;

  constructor(
    /** inserts the record (as it is when called) */
    insert: () => Promise<void>,
    caller?: AbortSignal,
    /** how long the insert waits for now() before it goes anyway; 0: at once */
    delayMs = 0,
  ) {
    // One controller fed by both, not AbortSignal.any: that one costs tens of µs a call in Node 20
    // (weak references and a finalization registry), a share of a warm call's server time.
    const stop = new AbortController();
    if (caller?.aborted) stop.abort(caller.reason);
    else caller?.addEventListener('abort', () => stop.abort(caller.reason), { once: true });
    this.signal = stop.signal;
    let settle!: (p: Promise<void>) => void;
    this.inserted = new Promise<void>((resolve) => {
      settle = resolve;
    });
    this.settle = settle;
    this.start = () => {
      this.start = undefined;
      clearTimeout(this.timer);
      settle(insert());
    };
    if (delayMs > 0) this.timer = setTimeout(() => this.start?.(), delayMs);
    else this.start();
    this.inserted.then(
      () => {
        this.in = true;
      },
      (e: unknown) => stop.abort(e),
    );
  }

  /** the insert goes now, if it still waits (output is on its way, or the call outlived its delay) */
  now(): void {
    this.start?.();
  }

  /**
   * The call ended before its insert went: it never will. True then; the caller writes the whole
   * record itself. False once the insert went (the caller updates the row instead).
   */
  skip(): boolean {
    if (!this.start) return false;
    this.start = undefined;
    clearTimeout(this.timer);
    this.settle(Promise.resolve());
    return true;
  }

  /** skip()'s caller writes the whole record through here (in the same turn): stored() waits for it */
  written(write: Promise<void>): Promise<void> {
    this.whole = write;
    return write;
  }

  /**
   * Settles once the record is in the store: inserted, or written whole at the call's end (skip,
   * written); rejects as that write did. For one who hands the id on before the call's own output
   * (now() first, not to wait out the delay).
   */
  async stored(): Promise<void> {
    await this.inserted;
    // A skip settled `inserted`, and written() came in that same turn, before this line runs.
    await this.whole;
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
