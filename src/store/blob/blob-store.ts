/**
 * Named byte blobs (async payloads and outputs, job inputs): what callers hold is a key, never a
 * path, so a store on another medium (a JetStream object store, later) can stand in for the files
 * under $AGNI_HOME. Keys are relative names such as `async/payloads/<id>`; see `blobKeyProblem`.
 */
import type { Readable } from 'node:stream';

export interface BlobStat {
  bytes: number;
}

export interface BlobSignal {
  signal?: AbortSignal;
}

export interface BlobOpenOptions extends BlobSignal {
  /** only these bytes; a blob shorter than `start + length` fails the stream */
  range?: { start: number; length: number };
}

/**
 * A blob written as it is produced (a function's stdout). Bytes past `limit` are counted and
 * dropped. Nothing is visible under the key until `commit`; a writer never committed (a crash, an
 * abort) leaves the key as it was.
 */
export interface BlobWriter {
  /** buffers the part of `chunk` that fits under the limit; write errors surface at `commit` */
  write(chunk: Buffer): void;
  /** bytes kept so far */
  readonly kept: number;
  /** bytes given to `write` so far, kept or not */
  readonly seen: number;
  /** makes the blob visible under its key, replacing any earlier one */
  commit(): Promise<BlobStat>;
  /** drops what was written; the key keeps its earlier blob, if any */
  abort(): Promise<void>;
}

export interface BlobStore {
  /** stores `data` whole and durably (on disk, or acknowledged) before it resolves */
  put(key: string, data: Buffer | Readable, opts?: BlobSignal): Promise<BlobStat>;
  /** the blob's bytes; rejects with `BlobMissing` when there is none */
  open(key: string, opts?: BlobOpenOptions): Promise<Readable>;
  stat(key: string): Promise<BlobStat | undefined>;
  /** forgets the blob; a missing one is no error */
  delete(key: string): Promise<void>;
  /** forgets every blob whose key starts with `prefix/` (a job's inputs) */
  deletePrefix(prefix: string): Promise<void>;
  /**
   * a writer for a blob produced piecemeal; at most `limit` bytes are kept. One writer per key at
   * a time (the caller holds the key, as an async attempt holds its lease); a new writer of a key
   * replaces what an earlier, crashed one left unfinished.
   */
  writer(key: string, opts: { limit: number }): Promise<BlobWriter>;
}

/** no blob is stored under the key */
export class BlobMissing extends Error {
  constructor(readonly key: string) {
    super(`no blob ${key}`);
    this.name = 'BlobMissing';
  }
}

export function isBlobMissing(e: unknown): e is BlobMissing {
  return e instanceof BlobMissing;
}

/** reads a whole blob (or a range of it) into memory; for payloads already bounded by a limit */
export async function readBlob(blobs: BlobStore, key: string, opts?: BlobOpenOptions): Promise<Buffer> {
  return readAll(await blobs.open(key, opts));
}

/** collects a blob's stream into one buffer */
export async function readAll(stream: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}
