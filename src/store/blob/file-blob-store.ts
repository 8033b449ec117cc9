/**
 * Blobs as files under a root ($AGNI_HOME): the key is the path below it, so homes written before
 * the BlobStore existed (`async/payloads/<id>`, `async/results/<id>.out`, `jobs/<id>/inputs/<n>`)
 * keep working. A blob is written beside its name (`.tmp` for `put`, `.part` for a writer) and
 * renamed into place, so a reader never sees half of one; a crash leaves only a leftover that no
 * key can name.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
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

/** unique per put, so two puts of one key never share a temporary file */
let seq = 0;
function tempName(file: string, suffix: string): string {
  return `${file}.${process.pid}-${++seq}${suffix}`;
}

export class FileBlobStore implements BlobStore {
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
    const fh = await open(file, 'r').catch((e) => {
      throw isMissing(e) ? new BlobMissing(key) : e;
    });
    try {
      const { size } = await fh.stat();
      const start = opts.range?.start ?? 0;
      const length = opts.range?.length ?? size - start;
      if (start + length > size) throw new Error(`blob ${key} is shorter than expected`);
      if (length === 0) {
        await fh.close();
        return Readable.from([]);
      }
      return fh.createReadStream({ start, end: start + length - 1, signal: opts.signal });
    } catch (e) {
      await fh.close();
      throw e;
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
    await rm(this.file(key), { force: true });
  }

  async deletePrefix(prefix: string): Promise<void> {
    await rm(this.file(prefix), { recursive: true, force: true });
  }

  async writer(key: string, { limit }: { limit: number }): Promise<BlobWriter> {
    const file = this.file(key);
    await this.parent(file);
    // The name of today's homes: the next attempt's writer overwrites what a crash left.
    const part = `${file}.part`;
    const out = createWriteStream(part, { mode: 0o600 });
    let failed: Error | undefined;
    out.on('error', (e) => {
      failed ??= e;
    });
    const finished = new Promise<void>((resolve) => {
      out.on('close', resolve);
    });
    let kept = 0;
    let seen = 0;
    let done = false;
    const end = async (): Promise<void> => {
      done = true;
      out.end();
      await finished;
    };
    return {
      write(chunk: Buffer): void {
        if (done) throw new Error(`blob ${key}: write after commit or abort`);
        seen += chunk.length;
        const room = limit - kept;
        if (room <= 0) return;
        const piece = chunk.length <= room ? chunk : chunk.subarray(0, room);
        kept += piece.length;
        out.write(piece);
      },
      get kept() {
        return kept;
      },
      get seen() {
        return seen;
      },
      async commit(): Promise<BlobStat> {
        await end();
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
        await rm(part, { force: true });
      },
    };
  }
}
