/**
 * The contract of durable async invocations, shared by the API, triggers (cron) and fan-out jobs.
 * The implementation is AsyncQueue (src/triggers/async-queue.ts).
 */
import type { Readable } from 'node:stream';
import type { Qualifier } from '../core/qualifier.js';
import type { RequestContext } from '../core/request-context.js';
import type { InputRef, VolumeWriter } from '../core/volumes.js';
import type { PayloadRef } from '../store/async-sql.js';
import type { BlobWriter } from '../store/blob/blob-store.js';
import type { InvocationRecord } from '../store/store.js';

export interface SubmitRequest {
  function: string;
  /**
   * which version runs (default: the live one). Resolved once, at submission: every attempt, retries
   * included, runs the version picked then, and the record names the alias.
   */
  qualifier?: Qualifier;
  payload: Buffer;
  /** a second submission with the same key returns the first invocation instead of running again */
  idempotencyKey?: string;
  /** POSTed with the result (JSON) once the invocation settles; retried with backoff */
  callbackUrl?: string;
  /** who submitted it, for listings: 'api', 'cron', 'job:<id>', ... */
  source?: string;
  /** the HTTP request that submitted it: stored, and given to every attempt as AGNI_HTTP_* */
  request?: RequestContext;
  /** a per-call timeout (ms) for every attempt, at most the function's limits.timeout (else 400) */
  timeoutMs?: number;
  /** a by-reference input (a file on a volume the function mounts); the payload is then empty */
  input?: InputRef;
  /**
   * the payload is already stored durably, as this range of a blob that outlives the invocation (a
   * job's inputs): nothing is copied or fsynced per submission, and `payload` is ignored
   */
  payloadRef?: PayloadRef;
  /**
   * stdout goes straight to this file on a read-write volume of the server (a job's `output_to`),
   * not to the queue's store: it appears there, whole, once an attempt succeeded; a failed one's is
   * not kept
   */
  outputTo?: InputRef;
}

/** Expands `VOLUME:/glob` into the files it names on this server's volumes (src/app/volume-files.ts). */
export interface RefExpander {
  names(): string[];
  /** sorted; throws naming `field`; more than `limit` files is refused */
  expand(ref: string, limit: number, field?: string): Promise<InputRef[]>;
}

/**
 * Writes a job's outputs into a read-write volume of this server (`output_to`,
 * src/app/volume-files.ts), following no link: a function that may write there cannot redirect them.
 */
export interface OutputVolumes {
  /** `VOLUME:/dir` as stored; throws bad_request naming `field` unless it is a read-write volume here */
  check(spec: string, field: string): string;
  /**
   * writes `data` as `name` (may hold `/`) in the directory `target` names; `writer` (an
   * invocation's id) marks its temporary file, and removes one it left before
   */
  write(target: string, name: string, data: Buffer | Readable, writer?: string): Promise<void>;
  /**
   * a writer of `file` on a read-write volume: visible under its name only once committed (at most
   * `limit` bytes kept, as a blob writer); throws bad_request, naming the file, when a directory on
   * the way is a link or a file. `by.writer` (the invocation's id) marks its temporary file; with
   * `by.sweep` (not its first attempt) the ones a crash of an earlier attempt left are removed.
   */
  writer(file: InputRef, limit: number, by?: VolumeWriter): Promise<BlobWriter>;
  /** `file` as an output, read following no link; undefined when it is not there */
  read(file: InputRef): Promise<AsyncOutput | undefined>;
}

export interface Submitted {
  record: InvocationRecord;
  /** true when the idempotency key matched an earlier submission */
  duplicate: boolean;
}

/** what a settle made due besides the record */
export interface SettleInfo {
  /** a callback is to be sent (the invocation has a callback URL); told by the queue that settled it */
  callback?: boolean;
  /** who submitted it (`api`, `cron`, `webhook:NAME`, `job:ID`, ...) */
  source?: string;
}

export interface AsyncSubmitter {
  /** stores the invocation and its payload durably, then returns; it runs when a slot is free */
  submit(req: SubmitRequest): Promise<Submitted>;
  /** resolves with the record once it settled (succeeded, or failed every attempt), or at the timeout with the current record */
  wait(id: string, timeoutMs: number): Promise<InvocationRecord>;
  /**
   * called for every async invocation that settles (after its record is stored), with how, when the
   * settle happened here; returns an unsubscribe
   */
  onSettled(listener: (rec: InvocationRecord, how?: SettleInfo) => void): () => void;
  /** the invocation's stored stdout, once it settled; undefined when none is stored */
  output(id: string): Promise<AsyncOutput | undefined>;
}

/** a settled invocation's stored stdout: its size, and its bytes streamed on demand */
export interface AsyncOutput {
  bytes: number;
  open(opts?: { signal?: AbortSignal }): Promise<Readable>;
  /** where it is when it was written straight to a volume (`outputTo`), not kept by the queue */
  at?: InputRef;
}
