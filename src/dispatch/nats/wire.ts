/**
 * The messages of one sync call between a server (NatsNodeAgent) and an agent (serveNodeAgent).
 * Each message is a NATS message whose `Agni-Meta` header holds a small JSON object (its kind and
 * counters) and whose body is raw bytes: a payload or output chunk, or the JSON of a request,
 * result or error. Flow control is by credit: a sender never has more than WINDOW chunks of one
 * direction unacknowledged, and the receiver acknowledges a chunk only once it handed it on.
 */
import { headers, type Msg, type MsgHdrs } from 'nats';
import { AgniError, ERROR_STATUS, type ErrorCode } from '../../core/errors.js';
import type { SandboxResult } from '../../sandbox/backend.js';
import type { Placement } from '../dispatch-request.js';

/** bytes per chunk: far below NATS's default max_payload (1 MiB) */
export const CHUNK_BYTES = 64 * 1024;
/** unacknowledged chunks a sender may have in flight, per direction */
export const WINDOW_CHUNKS = 8;
/** each side tells the other it is alive this often while a call runs */
export const KEEPALIVE_MS = 1_000;
/** a side that heard nothing of the other this long takes it as gone */
export const SILENCE_MS = 3_000;

export type Meta =
  /**
   * server → agent on the run subject (request/reply): the body is the DispatchRequest's JSON;
   * with `inline`, followed by the whole payload, its last `inline` bytes (no `in` messages follow)
   */
  | { t: 'start'; call: string; aborted?: string; inline?: number }
  /** agent's reply to start: it listens on the call's subjects */
  | { t: 'accepted'; node: string }
  /** a payload chunk (server → agent) or an output chunk (agent → server), numbered from 1 */
  | { t: 'in'; seq: number }
  | { t: 'out'; seq: number; fd: 1 | 2 }
  /** the payload ended after `chunks` chunks */
  | { t: 'in-end'; chunks: number }
  /** every chunk up to `seq` was handed on: the sender may send more */
  | { t: 'ack'; seq: number }
  | { t: 'hook'; hook: 'placed'; placement: Placement }
  | { t: 'hook'; hook: 'deadline'; deadline: number }
  | { t: 'hook'; hook: 'ready' | 'started' }
  | { t: 'abort'; reason: string }
  | { t: 'keepalive' }
  /** the call's result (body: WireResult JSON), after its last output chunk */
  | { t: 'end' }
  /** the call could not run (body: WireError JSON) */
  | { t: 'fail' };

const META = 'Agni-Meta';

export function hdrs(meta: Meta): MsgHdrs {
  const h = headers();
  h.set(META, JSON.stringify(meta));
  return h;
}

/** the meta of a message, or undefined when it is not one of ours */
export function metaOf(m: Msg): Meta | undefined {
  const raw = m.headers?.get(META);
  if (!raw) return undefined;
  try {
    const v = JSON.parse(raw) as Meta;
    return typeof v === 'object' && v !== null && typeof v.t === 'string' ? v : undefined;
  } catch {
    return undefined;
  }
}

export const jsonBody = (v: unknown): Uint8Array => Buffer.from(JSON.stringify(v));
export const parseBody = <T>(m: Msg): T => JSON.parse(Buffer.from(m.data).toString('utf8')) as T;
export const bytesOf = (m: Msg): Buffer => Buffer.from(m.data.buffer, m.data.byteOffset, m.data.byteLength);

/** `chunk` cut into pieces of at most CHUNK_BYTES, sharing its memory */
export function pieces(chunk: Buffer): Buffer[] {
  if (chunk.length <= CHUNK_BYTES) return [chunk];
  const out: Buffer[] = [];
  for (let i = 0; i < chunk.length; i += CHUNK_BYTES) out.push(chunk.subarray(i, i + CHUNK_BYTES));
  return out;
}

/**
 * A buffered payload up to this size rides in the start message: the agent can run the call at
 * once instead of answering first and then waiting for the payload (a round trip and a half).
 */
export const INLINE_BYTES = CHUNK_BYTES;

/** the start message's body: the request's JSON, then the inline payload when there is one */
export function startBody(req: unknown, inline?: Buffer): Uint8Array {
  const json = Buffer.from(JSON.stringify(req));
  return inline ? Buffer.concat([json, inline]) : json;
}

/** the request and inline payload of a start message (throws when its JSON is not) */
export function parseStart<T>(m: Msg, inline: number | undefined): { request: T; inline?: Buffer } {
  const body = bytesOf(m);
  const n = inline ?? 0;
  if (!Number.isInteger(n) || n < 0 || n > body.length)
    throw new Error(`inline: ${n} bytes in ${body.length}`);
  const request = JSON.parse(body.subarray(0, body.length - n).toString('utf8')) as T;
  // A copy: the message's buffer is the connection's to reuse.
  return inline === undefined
    ? { request }
    : { request, inline: Buffer.from(body.subarray(body.length - n)) };
}

/** A SandboxResult as JSON: the Lambda error document travels as base64. */
export type WireResult = Omit<SandboxResult, 'errorDocument'> & { errorDocument?: string };

export function resultToWire(r: SandboxResult): WireResult {
  const { errorDocument, ...rest } = r;
  return { ...rest, ...(errorDocument ? { errorDocument: errorDocument.toString('base64') } : {}) };
}

export function resultFromWire(w: WireResult): SandboxResult {
  const { errorDocument, ...rest } = w;
  return {
    ...rest,
    ...(errorDocument !== undefined ? { errorDocument: Buffer.from(errorDocument, 'base64') } : {}),
  };
}

export interface WireError {
  code: ErrorCode;
  message: string;
  hint?: string;
  details?: Record<string, unknown>;
}

/** Any error as it crosses: an AgniError keeps its code, hint and details; others become internal. */
export function errorToWire(e: unknown): WireError {
  if (e instanceof AgniError)
    return {
      code: e.code,
      message: e.message,
      ...(e.hint ? { hint: e.hint } : {}),
      ...(e.details ? { details: e.details } : {}),
    };
  return { code: 'internal', message: e instanceof Error ? e.message : String(e) };
}

export function errorFromWire(w: WireError): AgniError {
  const code: ErrorCode = w.code in ERROR_STATUS ? w.code : 'internal';
  return new AgniError(code, w.message, {
    ...(w.hint ? { hint: w.hint } : {}),
    ...(w.details ? { details: w.details } : {}),
  });
}
