/**
 * One direction of a call's byte stream: chunks go out in order, each only once the window has
 * credit for it. A send's promise settles once its last piece is published, so a caller that waits
 * on it is held exactly as long as the far side is behind.
 */
import { CreditWindow } from './credit-window.js';
import { pieces, WINDOW_CHUNKS } from './wire.js';

export class ChunkSender {
  readonly window = new CreditWindow(WINDOW_CHUNKS);
  private chain: Promise<void> = Promise.resolve();

  /** `publish(seq, piece, tag)` sends one numbered piece */
  constructor(private readonly publish: (seq: number, piece: Buffer, tag: number) => void) {}

  /** never rejects: once stopped, what is still to send is dropped (the far side is gone) */
  send(chunk: Buffer, tag = 0): Promise<void> {
    this.chain = this.chain
      .then(async () => {
        for (const p of pieces(chunk)) this.publish(await this.window.take(), p, tag);
      })
      .catch(() => {});
    return this.chain;
  }

  /** how many pieces were sent so far (the last sequence number) */
  get sent(): number {
    return this.window.taken;
  }

  /** settles once everything sent so far is published (or dropped) */
  idle(): Promise<void> {
    return this.chain;
  }

  stop(e: Error): void {
    this.window.fail(e);
  }
}
