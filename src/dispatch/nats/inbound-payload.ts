/**
 * The agent's end of a streamed payload: chunks arrive from the server and are handed to the
 * sandbox only as fast as it reads. A chunk is acknowledged (credit back to the server) when it
 * moves into the stream's own small buffer, so this side holds at most the window's chunks plus
 * that buffer, however slow the reader.
 */
import { Readable } from 'node:stream';
import { CHUNK_BYTES } from './wire.js';

export class InboundPayload extends Readable {
  private readonly waiting: Buffer[] = [];
  private wants = false;
  private ended = false;
  private eof = false;
  private handedOn = 0;
  /** bytes received and not yet in the stream's buffer (the test's view of what this side holds) */
  pendingBytes = 0;
  maxPendingBytes = 0;

  constructor(private readonly onHandedOn: (seq: number) => void) {
    super({ highWaterMark: CHUNK_BYTES });
  }

  override _read(): void {
    this.wants = true;
    this.flow();
  }

  deliver(chunk: Buffer): void {
    if (this.ended) return;
    this.waiting.push(chunk);
    this.pendingBytes += chunk.length;
    this.maxPendingBytes = Math.max(this.maxPendingBytes, this.pendingBytes);
    this.flow();
  }

  /** no more chunks will come */
  finish(): void {
    if (this.ended) return;
    this.ended = true;
    this.flow();
  }

  private flow(): void {
    while (this.wants && this.waiting.length > 0) {
      const c = this.waiting.shift()!;
      this.pendingBytes -= c.length;
      this.onHandedOn(++this.handedOn);
      this.wants = this.push(c);
    }
    if (this.ended && this.waiting.length === 0 && !this.eof) {
      this.eof = true;
      this.push(null);
    }
  }
}

/** A buffered payload: every chunk until the end, as one Buffer. */
export function wholePayload(p: InboundPayload): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    p.on('data', (c: Buffer) => parts.push(c));
    p.once('end', () => resolve(Buffer.concat(parts)));
    p.once('error', reject);
  });
}
