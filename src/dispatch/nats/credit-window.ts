/**
 * The sending side of credit-based flow control: take() waits while `size` chunks are
 * unacknowledged, so a slow receiver holds the sender (and, through it, whoever feeds it).
 */
export class CreditWindow {
  private sent = 0;
  private acked = 0;
  private waiters: (() => void)[] = [];
  private failure: Error | undefined;

  constructor(readonly size: number) {}

  /** the sequence number (from 1) of the next chunk, once there is credit for it; rejects after fail() */
  async take(): Promise<number> {
    while (this.sent - this.acked >= this.size) {
      if (this.failure) throw this.failure;
      await new Promise<void>((r) => this.waiters.push(r));
    }
    if (this.failure) throw this.failure;
    return ++this.sent;
  }

  /** every chunk up to `seq` was handed on (acks are cumulative; an old one changes nothing) */
  ack(seq: number): void {
    if (seq <= this.acked) return;
    this.acked = Math.min(seq, this.sent);
    this.wake();
  }

  /** the last sequence number handed out */
  get taken(): number {
    return this.sent;
  }

  /** how many chunks are sent and not yet acknowledged */
  get inFlight(): number {
    return this.sent - this.acked;
  }

  /**
   * No more waiting for credit: what is left goes at once. For the end of a call, when what is
   * left is bounded (the sandbox exited) and must not wait on a reader that stopped reading.
   */
  open(): void {
    (this as { size: number }).size = Number.POSITIVE_INFINITY;
    this.wake();
  }

  /** ends waiting for credit: whoever waits, or takes later, gets `e` */
  fail(e: Error): void {
    this.failure ??= e;
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const r of w) r();
  }
}
