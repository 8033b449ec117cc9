/**
 * Blobs as files under a root ($AGNI_HOME): the key is the path below it, so homes written before
 * the BlobStore existed (`async/payloads/<id>`, `async/results/<id>.out`, `jobs/<id>/inputs/<n>`)
 * keep working. A blob is written beside its name (`.tmp` for `put`, `.part` for a writer) and
 * renamed into place, so a reader never sees half of one; a crash leaves only a leftover that no
 * key can name.
 */
import {
  closeSync,
  createReadStream,
  createWriteStream,
  fstatSync,
  openSync,
  readSync,
  type WriteStream,
} from 'node:fs';
import { mkdir, open, rename, rm, stat, unlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { Readable } from 'node:stream';
import { assertBlobKey } from './blob-key.js';
import {
  BlobMissing,
  type BlobOpenOptions,
  type BlobSignal,
  type BlobStat,
  type BlobStore,
  type BlobWriter,
} from './blob-store.js';

function isMissing(e: unknown): boolean {
  return (e as NodeJS.ErrnoException)?.code === 'ENOENT';
}

/**
 * Blobs up to this size are read with one `read` into a buffer, and outputs up to it are kept in
 * memory until commit and written with one `write`: for the tiny items of a job, an fs stream's
 * setup and teardown cost the event loop more than the I/O itself (profiles of 3,000 items on warm
 * workers). A blob is opened and a small one read synchronously (a thread-pool handoff per step
 * cost more than the read of a file in the page cache), but a file is never created so: under
 * other I/O, an open with O_CREAT blocked the event loop for a millisecond (the filesystem's journal).
 */
export const SMALL_BLOB_BYTES = 64 * 1024;

/** fills `buf` from `position`; fails when the file ends before that */
function fill(fd: number, buf: Buffer, position: number, key: string): Buffer {
  let at = 0;
  while (at < buf.length) {
    const n = readSync(fd, buf, at, buf.length - at, position + at);
    if (n === 0) throw new Error(`blob ${key} is shorter than expected`);
    at += n;
  }
  return buf;
}

/** unique per put, so two puts of one key never share a temporary file */
let seq = 0;
function tempName(file: string, suffix: string): string {
  return `${file}.${process.pid}-${++seq}${suffix}`;
}

export class FileBlobStore implements BlobStore {
  /** directories made by this store, so a writer of a known one skips the `mkdir` */
  private readonly made = new Set<string>();

  constructor(private readonly root: string) {}

  private file(key: string): string {
    assertBlobKey(key);
    return join(this.root, key);
  }

  private async parent(file: string): Promise<void> {
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
  }

  async put(key: string, data: Buffer | Readable, opts: BlobSignal = {}): Promise<BlobStat> {
    const file = this.file(key);
    await this.parent(file);
    const tmp = tempName(file, '.tmp');
    const fh = await open(tmp, 'w', 0o600);
    let bytes = 0;
    try {
      try {
        if (Buffer.isBuffer(data)) {
          opts.signal?.throwIfAborted();
          await fh.writeFile(data);
          bytes = data.length;
        } else {
          for await (const c of data) {
            opts.signal?.throwIfAborted();
            const chunk = c as Buffer;
            await fh.write(chunk);
            bytes += chunk.length;
          }
          opts.signal?.throwIfAborted();
        }
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, file);
    } catch (e) {
      await rm(tmp, { force: true });
      throw e;
    }
    return { bytes };
  }

  async open(key: string, opts: BlobOpenOptions = {}): Promise<Readable> {
    const file = this.file(key);
    let fd: number;
    try {
      fd = openSync(file, 'r');
    } catch (e) {
      throw isMissing(e) ? new BlobMissing(key) : e;
    }
    let handedOver = false;
    try {
      const start = opts.range?.start ?? 0;
      let length = opts.range?.length;
      // A small range needs no stat: a file shorter than it fails the read instead.
      if (length === undefined || length > SMALL_BLOB_BYTES) {
        const { size } = fstatSync(fd);
        length ??= size - start;
        if (start + length > size) throw new Error(`blob ${key} is shorter than expected`);
      }
      if (length <= SMALL_BLOB_BYTES) {
        opts.signal?.throwIfAborted();
        return Readable.from(length === 0 ? [] : [fill(fd, Buffer.allocUnsafe(length), start, key)]);
      }
      handedOver = true;
      return createReadStream('', { fd, start, end: start + length - 1, signal: opts.signal });
    } finally {
      if (!handedOver) closeSync(fd);
    }
  }

  async stat(key: string): Promise<BlobStat | undefined> {
    const st = await stat(this.file(key)).catch((e) => {
      if (isMissing(e)) return undefined;
      throw e;
    });
    return st?.isFile() ? { bytes: st.size } : undefined;
  }

  async delete(key: string): Promise<void> {
    // One unlink: rm() stats the path twice first, each a trip through the thread pool.
    await unlink(this.file(key)).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'ENOENT') throw e;
    });
  }

  async deletePrefix(prefix: string): Promise<void> {
    await rm(this.file(prefix), { recursive: true, force: true });
  }

  async writer(key: string, { limit }: { limit: number }): Promise<BlobWriter> {
    const file = this.file(key);
    const dir = dirname(file);
    if (!this.made.has(dir)) {
      await this.parent(file);
      this.made.add(dir);
    }
    // The name of today's homes: the next attempt's writer overwrites what a crash left.
    const part = `${file}.part`;
    // Small outputs stay in memory (see SMALL_BLOB_BYTES); a larger one spills into a stream.
    let held: Buffer[] = [];
    let out: WriteStream | undefined;
    let finished: Promise<void> | undefined;
    let failed: Error | undefined;
    const spill = (): WriteStream => {
      const s = createWriteStream(part, { mode: 0o600 });
      s.on('error', (e) => {
        failed ??= e;
      });
      finished = new Promise<void>((resolve) => {
        s.on('close', resolve);
      });
      for (const c of held) s.write(c);
      held = [];
      return s;
    };
    let kept = 0;
    let seen = 0;
    let done = false;
    const end = async (): Promise<void> => {
      done = true;
      if (!out) return;
      out.end();
      await finished;
    };
    /** the held bytes, as the part file (its directory made again if it went away since) */
    const writeHeld = async (): Promise<void> => {
      const data = Buffer.concat(held);
      held = [];
      await writeFile(part, data, { mode: 0o600 }).catch(async (e) => {
        if (!isMissing(e)) throw e;
        await this.parent(file);
        await writeFile(part, data, { mode: 0o600 });
      });
    };
    return {
      write(chunk: Buffer): void {
        if (done) throw new Error(`blob ${key}: write after commit or abort`);
        seen += chunk.length;
        const room = limit - kept;
        if (room <= 0) return;
        const piece = chunk.length <= room ? chunk : chunk.subarray(0, room);
        kept += piece.length;
        if (out) {
          out.write(piece);
          return;
        }
        held.push(piece);
        if (kept > SMALL_BLOB_BYTES) out = spill();
      },
      get kept() {
        return kept;
      },
      get seen() {
        return seen;
      },
      async commit(): Promise<BlobStat> {
        const streamed = out !== undefined;
        await end();
        try {
          if (!streamed) await writeHeld();
        } catch (e) {
          failed ??= e as Error;
        }
        if (failed) {
          await rm(part, { force: true });
          throw failed;
        }
        // Not fsynced, as outputs never were: a crash before the settle runs the attempt again.
        await rename(part, file);
        return { bytes: kept };
      },
      async abort(): Promise<void> {
        if (!done) await end();
        held = [];
        await rm(part, { force: true });
      },
    };
  }
}
