/**
 * Content-addressed blobs under $AGNI_HOME/content. A blob only appears under blobs/ after its
 * bytes were hashed and counted while streaming into ingest/<hex>.part and then renamed, so a
 * blob file is always whole and right. A partial .part is kept to resume with a Range request.
 * Downloads of one digest are shared within a process (a map of promises) and serialized across
 * processes by an O_EXCL lock file holding the owner's pid.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { AgniError } from '../../core/errors.js';

const DIGEST = /^sha256:([a-f0-9]{64})$/;

export interface BlobSource {
  /** the bytes from `offset` on; `offset` is where they really start (0 when Range was ignored) */
  body: AsyncIterable<Uint8Array>;
  offset: number;
}

export type OpenBlob = (offset: number) => Promise<BlobSource>;
export type OnBytes = (done: number, total: number) => void;

export interface IngestResult {
  digest: string;
  size: number;
  /** bytes this call fetched (0 when the blob was already there or another caller fetched it) */
  fetched: number;
  /** where the download started: > 0 when it resumed a .part */
  resumedFrom: number;
}

export function hexOf(digest: string): string {
  const m = DIGEST.exec(digest);
  if (!m) throw new AgniError('manifest_invalid', `digest "${digest}" is not sha256:<64 lowercase hex>`);
  return m[1]!;
}

export function sha256Digest(bytes: Uint8Array): string {
  return `sha256:${createHash('sha256').update(bytes).digest('hex')}`;
}

/** whether a lock's owner still runs (EPERM: it does, as another user) */
export function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export class ContentStore {
  readonly root: string;
  private readonly blobs: string;
  private readonly ingestDir: string;
  private readonly inflight = new Map<string, Promise<IngestResult>>();

  constructor(home: string) {
    this.root = join(home, 'content');
    this.blobs = join(this.root, 'blobs', 'sha256');
    this.ingestDir = join(this.root, 'ingest');
  }

  path(digest: string): string {
    return join(this.blobs, hexOf(digest));
  }

  partPath(digest: string): string {
    return join(this.ingestDir, `${hexOf(digest)}.part`);
  }

  async has(digest: string): Promise<boolean> {
    return stat(this.path(digest)).then(
      (s) => s.isFile(),
      () => false,
    );
  }

  async read(digest: string): Promise<Buffer> {
    return readFile(this.path(digest)).catch((e) => {
      throw new AgniError('not_found', `blob ${digest} is not in the content store`, { cause: e });
    });
  }

  readStream(digest: string): NodeJS.ReadableStream {
    return createReadStream(this.path(digest));
  }

  /** Stores bytes already in memory (manifests, configs) after checking their digest. */
  async putBytes(bytes: Buffer, digest = sha256Digest(bytes)): Promise<string> {
    const got = sha256Digest(bytes);
    if (got !== digest) throw mismatch(digest, got, 'blob');
    if (await this.has(digest)) return digest;
    await this.dirs();
    const tmp = join(
      this.ingestDir,
      `${hexOf(digest)}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`,
    );
    await writeFile(tmp, bytes);
    await rename(tmp, this.path(digest));
    return digest;
  }

  /**
   * Fetches a blob unless it is there already. The same digest asked for twice at once in this
   * process is fetched once; another process fetching it makes this one wait for its lock.
   */
  ingest(digest: string, size: number, openBlob: OpenBlob, onBytes?: OnBytes): Promise<IngestResult> {
    hexOf(digest);
    const running = this.inflight.get(digest);
    if (running) return running.then((r) => ({ ...r, fetched: 0, resumedFrom: 0 }));
    const p = this.ingestLocked(digest, size, openBlob, onBytes).finally(() => this.inflight.delete(digest));
    this.inflight.set(digest, p);
    return p;
  }

  private async dirs(): Promise<void> {
    await mkdir(this.blobs, { recursive: true });
    await mkdir(this.ingestDir, { recursive: true });
  }

  private async ingestLocked(
    digest: string,
    size: number,
    openBlob: OpenBlob,
    onBytes?: OnBytes,
  ): Promise<IngestResult> {
    if (await this.has(digest)) return { digest, size, fetched: 0, resumedFrom: 0 };
    await this.dirs();
    const release = await this.lock(digest);
    try {
      // Another process may have finished it while this one waited for the lock.
      if (await this.has(digest)) return { digest, size, fetched: 0, resumedFrom: 0 };
      return await this.download(digest, size, openBlob, onBytes);
    } finally {
      await release();
    }
  }

  private async lock(digest: string): Promise<() => Promise<void>> {
    const file = join(this.ingestDir, `${hexOf(digest)}.lock`);
    for (;;) {
      try {
        const h = await open(file, 'wx');
        await h.writeFile(String(process.pid));
        await h.close();
        return () => rm(file, { force: true });
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      }
      const owner = Number.parseInt(await readFile(file, 'utf8').catch(() => ''), 10);
      const age = await stat(file).then(
        (s) => Date.now() - s.mtimeMs,
        () => 0,
      );
      // A lock whose owner died is stale; one without a readable pid is given a moment to be written.
      if ((Number.isInteger(owner) && owner > 0 && !pidAlive(owner)) || (!owner && age > 5000)) {
        await rm(file, { force: true });
        continue;
      }
      await sleep(100);
    }
  }

  private async download(
    digest: string,
    size: number,
    openBlob: OpenBlob,
    onBytes?: OnBytes,
  ): Promise<IngestResult> {
    const part = this.partPath(digest);
    let hash: Hash = createHash('sha256');
    let have = await stat(part).then(
      (s) => s.size,
      () => 0,
    );
    if (have > size) {
      await rm(part, { force: true });
      have = 0;
    }
    if (have > 0) {
      for await (const c of createReadStream(part)) hash.update(c as Buffer);
    }
    const src = await openBlob(have);
    if (src.offset !== have) {
      // The registry ignored Range: start over with what it sends.
      hash = createHash('sha256');
      have = 0;
      await rm(part, { force: true });
    }
    const resumedFrom = have;
    const h = await open(part, have > 0 ? 'a' : 'w');
    let done = have;
    try {
      onBytes?.(done, size);
      for await (const chunk of src.body) {
        done += chunk.byteLength;
        if (done > size) {
          await h.close().catch(() => {});
          await rm(part, { force: true });
          throw new AgniError(
            'registry_error',
            `blob ${digest}: the registry sent more than the ${size} bytes the manifest gives`,
          );
        }
        hash.update(chunk);
        await h.write(chunk);
        onBytes?.(done, size);
      }
      await h.sync();
    } finally {
      await h.close().catch(() => {});
    }
    if (done < size) {
      // The prefix is kept in ingest/ so the next pull resumes from it with Range.
      throw new AgniError('registry_error', `blob ${digest}: truncated: got ${done} of ${size} bytes`, {
        hint: 'pull again: the download resumes where it stopped',
        details: { digest, received: done, size },
      });
    }
    const got = `sha256:${hash.digest('hex')}`;
    if (got !== digest) {
      await rm(part, { force: true });
      throw mismatch(digest, got, 'blob');
    }
    await rename(part, this.path(digest));
    return { digest, size, fetched: done - resumedFrom, resumedFrom };
  }

  async list(): Promise<string[]> {
    const names = await readdir(this.blobs).catch(() => [] as string[]);
    return names.filter((n) => /^[a-f0-9]{64}$/.test(n)).map((n) => `sha256:${n}`);
  }

  /** Removes every blob not in `referenced`; returns the bytes freed. */
  async prune(referenced: Set<string>): Promise<number> {
    let freed = 0;
    for (const d of await this.list()) {
      if (referenced.has(d) || this.inflight.has(d)) continue;
      const p = this.path(d);
      const s = await stat(p).catch(() => undefined);
      if (!s) continue;
      await rm(p, { force: true });
      freed += s.size;
    }
    return freed;
  }
}

export function mismatch(want: string, got: string, what: string): AgniError {
  return new AgniError('registry_error', `${what} ${want}: content does not match its digest (got ${got})`, {
    hint: 'the registry or a proxy served wrong bytes; nothing was stored',
    details: { expected: want, actual: got },
  });
}
