/**
 * What a dispatcher moves, in two parts. A DispatchRequest is plain data (JSON-serialisable: no
 * streams, callbacks or signals), so a dispatcher can queue it or send it to another node. A
 * LocalChannel holds what only this process has: the payload's bytes, the output sinks, the hooks
 * and the abort signal. A remote dispatcher will carry the channel over its own transport.
 */
import type { Readable } from 'node:stream';
import type { LambdaCaller } from '../core/lambda.js';
import type { RequestContext } from '../core/request-context.js';
import type { InputRef } from '../core/volumes.js';
import type { SandboxHooks, SandboxIO } from '../sandbox/backend.js';
import type { VersionRecord } from '../store/store.js';

export interface Placement {
  node: string;
  backend: string;
}

/**
 * What the payload is, not its bytes (they travel on the channel): a buffer's size is known
 * up front; a stream's only once the sandbox took it (SandboxResult.stdinBytes).
 */
export type PayloadRef = { kind: 'buffer'; bytes: number } | { kind: 'stream' };

export interface DispatchRequest {
  invocationId: string;
  version: VersionRecord;
  payload: PayloadRef;
  /** the HTTP request that started it (webhooks, HTTP invokes): the function sees it as AGNI_HTTP_* */
  http?: RequestContext;
  /**
   * a per-call timeout (ms), at most the version's limits.timeout; absent: that limit. The
   * absolute deadline is fixed only when the call is placed (reported by hooks.onDeadline).
   */
  timeoutMs?: number;
  /** protocol: lambda only: the caller's client context / identity, as event headers */
  lambda?: LambdaCaller;
  /**
   * a by-reference job input: a file on a volume the version mounts. The agent gives the sandbox its
   * path in AGNI_INPUT (and its bytes on stdin with `input: stdin`); the payload is then empty.
   */
  input?: InputRef;
}

export interface DispatchHooks extends SandboxHooks {
  /** a node took the call (may come twice across nodes: the server's choice, then the node's own queue) */
  onPlaced?(p: Placement): void;
  /** the call crossed to a remote node and the node took it (cluster mode only) */
  onDispatched?(): void;
  /** the absolute deadline (Unix ms) the sandbox will be killed at, set as it is placed */
  onDeadline?(deadline: number): void;
}

export interface LocalChannel {
  /** the payload's bytes; a stream is read only as fast as the sandbox takes it */
  payload: Buffer | Readable;
  /** `io.signal` aborting drops a waiting call from the queue, or kills a running one */
  io: Omit<SandboxIO, 'stdin'>;
  hooks: DispatchHooks;
}

/** One call handed to a dispatcher: the data, and the local ends it streams through. */
export interface DispatchJob {
  request: DispatchRequest;
  channel: LocalChannel;
}

export function payloadRef(payload: Buffer | Readable): PayloadRef {
  return Buffer.isBuffer(payload) ? { kind: 'buffer', bytes: payload.length } : { kind: 'stream' };
}

/** The request for one call; absent options stay absent (not `undefined`), as JSON would have them. */
export function dispatchRequest(o: {
  invocationId: string;
  version: VersionRecord;
  payload: Buffer | Readable;
  http?: RequestContext | undefined;
  timeoutMs?: number | null | undefined;
  lambda?: LambdaCaller | undefined;
  input?: InputRef | undefined;
}): DispatchRequest {
  return {
    invocationId: o.invocationId,
    version: o.version,
    payload: payloadRef(o.payload),
    ...(o.http ? { http: o.http } : {}),
    ...(o.timeoutMs !== undefined && o.timeoutMs !== null ? { timeoutMs: o.timeoutMs } : {}),
    ...(o.lambda ? { lambda: o.lambda } : {}),
    ...(o.input ? { input: o.input } : {}),
  };
}
