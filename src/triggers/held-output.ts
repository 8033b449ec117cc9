/**
 * An async attempt's stdout while it runs: held in memory while it is small, so that a small output
 * is stored in the invocation's row at its settle (no file of its own: creating one cost a tiny job
 * item more server time than its run); past `inlineMax` it spills into a blob writer, as every
 * output did before. Bytes past `limit` are counted and dropped, as a blob writer does.
 */
import type { BlobWriter } from '../store/blob/blob-store.js';

/** outputs up to this many bytes are kept in the store's row */
export const INLINE_OUTPUT_BYTES = 16 * 1024;

export class HeldOutput {
  private held: Buffer[] = [];
  private size = 0;
  /** the blob writer once the output outgrew memory; its opening, in order with the writes */
  private spilled: Promise<BlobWriter | undefined> | undefined;
  private writer: BlobWriter | undefined;
  private failed: unknown;

  constructor(
    /** opens the blob writer (at most once) */
    private readonly open: () => Promise<BlobWriter>,
    private readonly limit: number,
    private readonly inlineMax = INLINE_OUTPUT_BYTES,
  ) {}

  /** bytes kept so far */
  get kept(): number {
    return this.writer ? this.writer.kept : this.size;
  }

  /** A promise while the blob writer is being opened: it holds the producer meanwhile, and never rejects. */
  write(chunk: Buffer): void | Promise<void> {
    if (this.writer) return this.writer.write(chunk);
    if (this.spilled) return this.spilled.then((w) => w?.write(chunk));
    if (this.size + chunk.length <= this.inlineMax || this.limit <= this.inlineMax) {
      const room = Math.min(this.limit, this.inlineMax) - this.size;
      const piece = chunk.length <= room ? chunk : chunk.subarray(0, Math.max(0, room));
      if (piece.length > 0) this.held.push(piece);
      this.size += piece.length;
      return;
    }
    const held = this.held;
    this.held = [];
    this.spilled = this.open().then(
      (w) => {
        for (const c of held) w.write(c);
        this.writer = w;
        return w;
      },
      (e: unknown) => {
        // surfaces at commit(), as a blob writer's own write errors do
        this.failed = e;
        return undefined;
      },
    );
    return this.spilled.then((w) => w?.write(chunk));
  }

  /**
   * The output is complete: the held bytes to store in the row, or undefined once it was written to
   * the blob (committed here). Throws what opening or writing the blob failed with.
   */
  async commit(): Promise<Buffer | undefined> {
    if (!this.spilled) return Buffer.concat(this.held, this.size);
    const w = await this.spilled;
    if (!w) throw this.failed;
    await w.commit();
    return undefined;
  }

  /** drops what was written (a retry, a stop): nothing is stored */
  async abort(): Promise<void> {
    this.held = [];
    const w = await this.spilled;
    await w?.abort();
  }
}
