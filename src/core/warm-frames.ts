/**
 * The warm protocol's framing (docs/warm-protocol.md), pure: requests the platform writes on the
 * worker's fd 3, completions it reads from fd 4, and the routing of the worker's stdout/stderr
 * bytes to the invocation that wrote them, using the byte counts the completions carry, or (for a
 * worker that asked for `mark`) the end mark each call's streams close with.
 */

import { envLines } from './env-lines.js';

export const MAX_LINE = 4096;
const ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

/** A worker that says `ready … env` gets each call's environment in its frames. */
export const ENV_FEATURE = 'env';
/**
 * A worker that says `ready … mark` gets a fresh end mark with each call, ends the call's stdout
 * and stderr with it and reports `-` for both counts: it need not count its output (the sh helper
 * started `wc` and `cat` for that on every call).
 */
export const MARK_FEATURE = 'mark';
/** an end mark: the platform makes a fresh unguessable one per call (warm-workers.ts) */
export const MARK_RE = /^agni-end-[0-9a-f]{32}$/;

/**
 * `<id> <deadline_ms> <payload_len>\n` followed by the payload. Fields that workers ask for in
 * `ready` follow the length, in this order: `<env_len>` (env; its KEY=VALUE lines come before the
 * payload), then `<mark>` (mark).
 */
export function encodeRequest(
  id: string,
  deadlineMs: number,
  payload: Buffer,
  env?: Record<string, string>,
  mark?: string,
): Buffer {
  if (!ID_RE.test(id)) throw new Error(`warm request id '${id}' is not [A-Za-z0-9._:-]{1,128}`);
  if (mark !== undefined && !MARK_RE.test(mark)) throw new Error(`warm end mark '${mark}' is malformed`);
  const block = env ? Buffer.from(envLines(env)) : undefined;
  const fields = [id, String(Math.floor(deadlineMs)), String(payload.length)];
  if (block) fields.push(String(block.length));
  if (mark !== undefined) fields.push(mark);
  const header = Buffer.from(`${fields.join(' ')}\n`);
  return Buffer.concat(block ? [header, block, payload] : [header, payload]);
}

export type WarmEvent =
  /**
   * the worker finished starting; `stdout`/`stderr` bytes it wrote before are not an invocation's;
   * `features` are the words after the counts (`env`: send each call's environment); unknown ones
   * are ignored, so a worker can ask for what a later platform offers
   */
  | { type: 'ready'; stdout: number; stderr: number; features: string[] }
  /**
   * one request is complete: status 0 = ok; exactly stdout/stderr bytes were written for it, or
   * (null, from `-`) its streams end at the call's end mark
   */
  | { type: 'done'; id: string; status: number; stdout: number | null; stderr: number | null }
  /** the worker broke the protocol: the platform stops it */
  | { type: 'error'; message: string };

const COUNT_RE = /^(0|[1-9][0-9]{0,14})$/;
const STATUS_RE = /^-?[0-9]{1,9}$/;
const FEATURE_RE = /^[a-z][a-z0-9-]{0,31}$/;

/** Parses one completion line (without its newline). */
export function parseCompletionLine(line: string): WarmEvent {
  const parts = line.trim().split(/ +/);
  if (parts[0] === 'ready') {
    const rest = parts.slice(1);
    const counted = rest.length >= 2 && COUNT_RE.test(rest[0]!) && COUNT_RE.test(rest[1]!);
    const features = counted ? rest.slice(2) : rest;
    if (features.every((w) => FEATURE_RE.test(w)))
      return {
        type: 'ready',
        stdout: counted ? Number(rest[0]) : 0,
        stderr: counted ? Number(rest[1]) : 0,
        features,
      };
  } else if (
    parts.length === 4 &&
    ID_RE.test(parts[0]!) &&
    STATUS_RE.test(parts[1]!) &&
    ((COUNT_RE.test(parts[2]!) && COUNT_RE.test(parts[3]!)) || (parts[2] === '-' && parts[3] === '-'))
  ) {
    const marked = parts[2] === '-';
    return {
      type: 'done',
      id: parts[0]!,
      status: Number(parts[1]),
      stdout: marked ? null : Number(parts[2]),
      stderr: marked ? null : Number(parts[3]),
    };
  }
  return {
    type: 'error',
    message: `bad completion line ${JSON.stringify(line.slice(0, 200))}: expected 'ready [OUT ERR] [FEATURE…]', 'ID STATUS OUT ERR' or 'ID STATUS - -'`,
  };
}

/** Splits fd 4's byte stream into completion events. */
export class CompletionParser {
  private partial = '';
  private broken = false;

  push(chunk: Buffer | string): WarmEvent[] {
    if (this.broken) return [];
    const text = this.partial + chunk.toString('latin1');
    const lines = text.split('\n');
    this.partial = lines.pop() ?? '';
    const out: WarmEvent[] = [];
    for (const line of lines) {
      const ev = parseCompletionLine(line);
      out.push(ev);
      if (ev.type === 'error') {
        this.broken = true;
        return out;
      }
    }
    if (this.partial.length > MAX_LINE) {
      this.broken = true;
      out.push({ type: 'error', message: `completion line longer than ${MAX_LINE} bytes` });
    }
    return out;
  }
}

interface Owner {
  sink: (chunk: Buffer) => void;
  /** bytes this owner receives in total; undefined while its completion has not arrived */
  limit: number | undefined;
  got: number;
  onComplete: () => void;
  /** the bytes its stream ends with, instead of a limit (not passed on) */
  mark?: Buffer;
  /** the end of what arrived that may be the start of the mark: held back until it is known */
  held?: Buffer;
}

/**
 * Routes one output stream (stdout or stderr) of a worker to owners in order: the worker's start-up
 * (until `ready`), then each invocation. Bytes go to the oldest owner until it has its `limit`.
 * Bytes that arrive while there is no owner belong to nobody: they go to `onStray`, never to a
 * later owner (they may be what a previous call left running, writing after its completion).
 */
export class ByteRouter {
  private readonly owners: Owner[] = [];

  constructor(private readonly onStray: (chunk: Buffer) => void = () => {}) {}

  /**
   * Adds an owner; its limit is set later by complete(); onComplete fires once it has them all.
   * With `mark`, it owns the bytes up to that mark instead (which is dropped), and complete() is
   * not for it.
   */
  open(sink: (chunk: Buffer) => void, onComplete: () => void = () => {}, mark?: Buffer): void {
    this.owners.push({ sink, limit: undefined, got: 0, onComplete, ...(mark ? { mark } : {}) });
  }

  /** The oldest owner without a limit (or a mark) gets `total` (from `ready` or a completion). */
  complete(total: number): void {
    const o = this.owners.find((x) => x.limit === undefined && x.mark === undefined);
    if (!o) return;
    o.limit = total;
    this.popFinished();
  }

  /** Owners still waiting for their limit or their bytes. */
  get pending(): number {
    return this.owners.length;
  }

  write(chunk: Buffer): void {
    let rest = chunk;
    while (rest.length > 0) {
      const o = this.owners[0];
      if (!o) {
        this.onStray(rest);
        return;
      }
      if (o.mark) {
        rest = this.untilMark(o, o.mark, rest);
        continue;
      }
      const n = o.limit === undefined ? rest.length : Math.min(o.limit - o.got, rest.length);
      o.got += n;
      o.sink(rest.subarray(0, n));
      rest = rest.subarray(n);
      this.popFinished();
    }
  }

  /** passes on what precedes the mark; returns what follows it (nothing while it has not come) */
  private untilMark(o: Owner, mark: Buffer, chunk: Buffer): Buffer {
    const buf = o.held ? Buffer.concat([o.held, chunk]) : chunk;
    o.held = undefined;
    const at = buf.indexOf(mark);
    if (at >= 0) {
      if (at > 0) o.sink(buf.subarray(0, at));
      o.got += at;
      this.owners.shift();
      o.onComplete();
      this.popFinished();
      return buf.subarray(at + mark.length);
    }
    // Hold back the longest end of it that could begin the mark; pass the rest on now.
    let keep = Math.min(mark.length - 1, buf.length);
    while (keep > 0 && !buf.subarray(buf.length - keep).equals(mark.subarray(0, keep))) keep--;
    const pass = buf.length - keep;
    if (pass > 0) o.sink(buf.subarray(0, pass));
    o.got += pass;
    if (keep > 0) o.held = Buffer.from(buf.subarray(pass));
    return Buffer.alloc(0);
  }

  private popFinished(): void {
    for (let o = this.owners[0]; o && o.limit !== undefined && o.got >= o.limit; o = this.owners[0]) {
      this.owners.shift();
      o.onComplete();
    }
  }
}
