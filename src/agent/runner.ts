/**
 * A SandboxRunner runs an invocation in a sandbox it keeps ahead of demand instead of a fresh one:
 * prewarmed pools (cold lifecycle, created and waiting) and warm workers (one sandbox, many calls).
 */
import type { Readable } from 'node:stream';
import type { LambdaCaller } from '../core/lambda.js';
import type { SandboxHooks, SandboxIO, SandboxResult, SandboxSpec } from '../sandbox/backend.js';
import type { VersionRecord } from '../store/store.js';

export interface InvocationContext {
  id: string;
  /** absolute Unix ms */
  deadline: number;
  /** per-invocation environment beyond AGNI_INVOCATION_ID/AGNI_DEADLINE_MS: the request's AGNI_HTTP_* */
  env?: Record<string, string>;
  /** a stream only for cold sandboxes: the agent buffers it for warm workers (they need its length) */
  payload: Buffer | Readable;
  io: Omit<SandboxIO, 'stdin'>;
  hooks: SandboxHooks;
  /** protocol: lambda: the caller's client context / identity */
  lambda?: LambdaCaller;
}

/**
 * The version's sandbox spec without per-invocation values: its id is a per-version prefix and its
 * env lacks AGNI_INVOCATION_ID and AGNI_DEADLINE_MS (inv.id and inv.deadline carry them). Built
 * only when asked: a warm call that finds an idle worker needs none (the spec, its image lookup and
 * its secrets' decryption were a share of every warm call's server time).
 */
export type BaseSpec = () => Promise<SandboxSpec>;

export interface SandboxRunner {
  run(version: VersionRecord, base: BaseSpec, inv: InvocationContext): Promise<SandboxResult>;
  /** sandboxes of other versions of `fn` (or of all versions when `keep` is undefined) are removed */
  drain(fn: string, keep?: number): Promise<void>;
  /** stops every kept sandbox; safe to call twice */
  shutdown(): Promise<void>;
  /** "fn@version" of each version with a sandbox kept ready now (a cluster node's heartbeat) */
  held?(): string[];
  /** whether a kept sandbox of this version waits idle now (a call would take it without a spec) */
  idle?(version: VersionRecord): boolean;
}
