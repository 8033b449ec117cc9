/**
 * Blobs in a JetStream object store bucket (`agni_blobs`), for cluster mode: every server and
 * agent reaches the same payloads, outputs and job inputs without a shared disk. The layout is
 * the object store's own (chunks on `$O.<bucket>.C.<nuid>`, a rolled-up meta entry per name on
 * `$O.<bucket>.M.<name>`), so `nats object` tools read it too; the chunks are written and read
 * here rather than by nats.js's `put`/`get`, which publish every chunk before awaiting any and
 * push every chunk to the reader without backpressure: a big blob would sit whole in memory.
 *
 * An object becomes visible only when its meta entry is written, after every chunk is stored:
 * that is the writer's commit, and a writer that never commits leaves no object (its chunks are
 * purged on abort and on a failed put). A crash mid-write leaves chunks that no meta entry names:
 * never readable, they only take space until the bucket is purged.
 */
import { createHash, type Hash } from 'node:crypto';
import { Readable } from 'node:stream';
import {
  headers,
  type JetStreamClient,
  type JetStreamManager,
  JsHeaders,
  type NatsConnection,
  nuid,
  type ObjectStore,
  StorageType,
} from 'nats';
import type { Logger } from 'pino';
import { assertBlobKey } from './blob-key.js';
import {
  BlobMissing,
  type BlobOpenOptions,
  type BlobSignal,
  type BlobStat,
  type BlobStore,
  type BlobWriter,
} from './blob-store.js';

export const DEFAULT_BLOB_BUCKET = 'agni_blobs';
/** the object store's default chunk; well under NATS's 1 MiB message limit */
const CHUNK = 128 * 1024;
/** chunk publishes awaiting their ack at once: what a put holds in memory, at most */
const WINDOW = 4;
/** chunks a reader asks the server for at a time */
const READ_AHEAD = 4;

interface ObjectMeta {
  name: string;
  bucket: string;
  nuid: string;
  size: number;
  chunks: number;
  mtime: string;
  digest: string;
  deleted: boolean;
  description: string;
  options: { max_chunk_size: number };
}

export interface NatsObjectBlobStoreOptions {
  bucket?: string;
  logger?: Logger;
}

/** the meta subject's token, as nats.js spells it (base64url with padding) */
function nameToken(name: string): string {
  const b = Buffer.from(name).toString('base64url');
  return b + '='.repeat((4 - (b.length % 4)) % 4);
}

export class NatsObjectBlobStore implements BlobStore {
  private readonly stream: string;

  private constructor(
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly os: ObjectStore,
    readonly bucket: string,
    private readonly logger: Logger | undefined,
  ) {
    this.stream = `OBJ_${bucket}`;
  }

  /** opens the bucket, creating it (file storage) when it does not exist yet */
  static async open(nc: NatsConnection, o: NatsObjectBlobStoreOptions = {}): Promise<NatsObjectBlobStore> {
    const bucket = o.bucket ?? DEFAULT_BLOB_BUCKET;
    const js = nc.jetstream();
    const jsm = await nc.jetstreamManager();
    o.logger?.debug({ bucket }, 'blobs: opening the object store bucket');
    const os = await js.views.os(bucket, { storage: StorageType.File });
    return new NatsObjectBlobStore(js, jsm, os, bucket, o.logger);
  }

  /** removes the bucket and everything in it (tests) */
  async destroy(): Promise<void> {
    await this.os.destroy();
  }

  private chunkSubject(id: string): string {
    return `$O.${this.bucket}.C.${id}`;
  }

  private metaSubject(key: string): string {
    return `$O.${this.bucket}.M.${nameToken(key)}`;
  }

  private async meta(key: string): Promise<ObjectMeta | undefined> {
    const info = await this.os.info(key);
    if (!info || info.deleted) return undefined;
    return info as unknown as ObjectMeta;
  }

  async stat(key: string): Promise<BlobStat | undefined> {
    assertBlobKey(key);
    const m = await this.meta(key);
    return m ? { bytes: m.size } : undefined;
  }

  async put(key: string, data: Buffer | Readable, opts: BlobSignal = {}): Promise<BlobStat> {
    assertBlobKey(key);
    const up = new Upload(this, key, Number.POSITIVE_INFINITY);
    try {
      opts.signal?.throwIfAborted();
      if (Buffer.isBuffer(data)) {
        await up.add(data);
      } else {
        for await (const c of data) {
          opts.signal?.throwIfAborted();
          await up.add(c as Buffer);
        }
        opts.signal?.throwIfAborted();
      }
      return await up.finish();
    } catch (e) {
      await up.discard();
      throw e;
    }
  }

  async open(key: string, opts: BlobOpenOptions = {}): Promise<Readable> {
    assertBlobKey(key);
    const m = await this.meta(key);
    if (!m) throw new BlobMissing(key);
    const start = opts.range?.start ?? 0;
    const length = opts.range?.length ?? m.size - start;
    if (start < 0 || length < 0 || start + length > m.size) {
      throw new Error(`blob ${key} is shorter than expected`);
    }
    if (length === 0) return Readable.from([]);
    this.logger?.debug({ bucket: this.bucket, key, start, length }, 'blobs: reading');
    return Readable.from(this.chunks(m, start, length, opts.signal), { objectMode: false });
  }

  /**
   * The bytes [start, start+length) of an object, read chunk by chunk as the consumer of the
   * stream asks: an ordered consumer over the object's chunks, pulled a few at a time. Chunks
   * before `start` are fetched and skipped (the object store keeps no index from offset to
   * sequence); a whole read checks the digest.
   */
  private async *chunks(m: ObjectMeta, start: number, length: number, signal?: AbortSignal) {
    const consumer = await this.js.consumers.get(this.stream, { filterSubjects: this.chunkSubject(m.nuid) });
    const whole = start === 0 && length === m.size;
    const sha = whole ? createHash('sha256') : undefined;
    const iter = await consumer.consume({ max_messages: READ_AHEAD });
    let offset = 0;
    let sent = 0;
    try {
      for await (const msg of iter) {
        signal?.throwIfAborted();
        const data = Buffer.from(msg.data);
        sha?.update(data);
        const from = Math.max(0, start - offset);
        const to = Math.min(data.length, start + length - offset);
        offset += data.length;
        if (to > from) {
          const piece = data.subarray(from, to);
          sent += piece.length;
          yield piece;
        }
        if (sent >= length && !sha) break;
        if (offset >= m.size) break;
      }
      signal?.throwIfAborted();
      if (sent < length) throw new Error(`blob ${m.name} ended early: ${sent} of ${length} bytes`);
      if (sha && `SHA-256=${sha.digest('base64url')}=` !== m.digest) {
        throw new Error(`blob ${m.name} is corrupt: its digest does not match`);
      }
    } finally {
      iter.stop();
    }
  }

  async delete(key: string): Promise<void> {
    assertBlobKey(key);
    this.logger?.debug({ bucket: this.bucket, key }, 'blobs: deleting');
    if (await this.meta(key)) await this.os.delete(key);
  }

  async deletePrefix(prefix: string): Promise<void> {
    assertBlobKey(prefix);
    const below = `${prefix}/`;
    // The object store has no index by name prefix: the meta entries are listed, chunks untouched.
    for (const info of await this.os.list()) {
      if (info.name.startsWith(below) && !info.deleted) await this.os.delete(info.name);
    }
  }

  async writer(key: string, { limit }: { limit: number }): Promise<BlobWriter> {
    assertBlobKey(key);
    const up = new Upload(this, key, limit);
    let failed: unknown;
    let done = false;
    // Each write waits its turn behind the last, so chunks land in order; an error is kept for commit.
    let tail: Promise<void> = Promise.resolve();
    return {
      write(chunk: Buffer): void {
        if (done) throw new Error(`blob ${key}: write after commit or abort`);
        const piece = up.take(chunk);
        if (piece.length === 0) return;
        tail = tail.then(() =>
          failed
            ? undefined
            : up.add(piece).catch((e) => {
                failed ??= e;
              }),
        );
      },
      get kept() {
        return up.kept;
      },
      get seen() {
        return up.seen;
      },
      async commit(): Promise<BlobStat> {
        done = true;
        await tail;
        if (failed) {
          await up.discard();
          throw failed;
        }
        return up.finish();
      },
      async abort(): Promise<void> {
        done = true;
        await tail;
        await up.discard();
      },
    };
  }

  /** @internal the pieces an upload needs */
  get internals() {
    return {
      js: this.js,
      jsm: this.jsm,
      stream: this.stream,
      bucket: this.bucket,
      chunkSubject: (id: string) => this.chunkSubject(id),
      metaSubject: (key: string) => this.metaSubject(key),
      meta: (key: string) => this.meta(key),
      logger: this.logger,
    };
  }
}

/**
 * One object being written: chunks of exactly CHUNK bytes (the last one shorter), at most WINDOW
 * of them unacknowledged, then the meta entry that makes it visible and replaces any earlier one.
 */
class Upload {
  private readonly id = nuid.next();
  private readonly sha: Hash = createHash('sha256');
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  private readonly inflight: Promise<unknown>[] = [];
  private size = 0;
  private count = 0;
  kept = 0;
  seen = 0;

  constructor(
    private readonly store: NatsObjectBlobStore,
    private readonly key: string,
    private readonly limit: number,
  ) {}

  /** the part of `chunk` under the limit, counting all of it */
  take(chunk: Buffer): Buffer {
    this.seen += chunk.length;
    const room = this.limit - this.kept;
    if (room <= 0) return chunk.subarray(0, 0);
    const piece = chunk.length <= room ? chunk : chunk.subarray(0, room);
    this.kept += piece.length;
    return piece;
  }

  async add(data: Buffer): Promise<void> {
    if (data.length === 0) return;
    this.pending.push(data);
    this.pendingBytes += data.length;
    while (this.pendingBytes >= CHUNK) {
      const all = Buffer.concat(this.pending);
      await this.publish(all.subarray(0, CHUNK));
      const rest = all.subarray(CHUNK);
      this.pending = rest.length ? [Buffer.from(rest)] : [];
      this.pendingBytes = rest.length;
    }
  }

  private async publish(chunk: Buffer): Promise<void> {
    const { js, chunkSubject } = this.store.internals;
    this.sha.update(chunk);
    this.size += chunk.length;
    this.count++;
    if (this.inflight.length >= WINDOW) await this.inflight.shift();
    const p = js.publish(chunkSubject(this.id), chunk);
    // Rejections are seen when the window or `finish` awaits it; not unhandled meanwhile.
    p.catch(() => {});
    this.inflight.push(p);
  }

  async finish(): Promise<BlobStat> {
    const { js, jsm, stream, bucket, chunkSubject, metaSubject, meta, logger } = this.store.internals;
    if (this.pendingBytes > 0) await this.publish(Buffer.concat(this.pending));
    this.pending = [];
    this.pendingBytes = 0;
    await Promise.all(this.inflight);
    const old = await meta(this.key);
    const info: ObjectMeta = {
      name: this.key,
      bucket,
      nuid: this.id,
      size: this.size,
      chunks: this.count,
      mtime: new Date().toISOString(),
      digest: `SHA-256=${this.sha.digest('base64url')}=`,
      deleted: false,
      description: '',
      options: { max_chunk_size: CHUNK },
    };
    const h = headers();
    h.set(JsHeaders.RollupHdr, JsHeaders.RollupValueSubject);
    await js.publish(metaSubject(this.key), JSON.stringify(info), { headers: h });
    logger?.debug({ bucket, key: this.key, bytes: this.size }, 'blobs: stored');
    if (old && old.nuid !== this.id) {
      await jsm.streams.purge(stream, { filter: chunkSubject(old.nuid) }).catch((e) => {
        // The new blob is in place; only space is lost until the bucket is cleaned.
        logger?.warn({ err: e, bucket, key: this.key }, 'blobs: the replaced chunks could not be purged');
      });
    }
    return { bytes: this.size };
  }

  /** drops every chunk written so far; the key keeps what it had */
  async discard(): Promise<void> {
    const { jsm, stream, chunkSubject } = this.store.internals;
    await Promise.allSettled(this.inflight);
    this.pending = [];
    if (this.count > 0) await jsm.streams.purge(stream, { filter: chunkSubject(this.id) }).catch(() => {});
  }
}
