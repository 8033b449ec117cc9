/**
 * The warm protocol's framing (docs/warm-protocol.md), pure: requests the platform writes on the
 * worker's fd 3, completions it reads from fd 4, and the routing of the worker's stdout/stderr
 * bytes to the invocation that wrote them, using the byte counts the completions carry.
 */

export const MAX_LINE = 4096;
const ID_RE = /^[A-Za-z0-9._:-]{1,128}$/;

/** `<id> <deadline_ms> <payload_len>\n` followed by the payload. */
export function encodeRequest(id: string, deadlineMs: number, payload: Buffer): Buffer {
  if (!ID_RE.test(id)) throw new Error(`warm request id '${id}' is not [A-Za-z0-9._:-]{1,128}`);
  const header = Buffer.from(`${id} ${Math.floor(deadlineMs)} ${payload.length}\n`);
  return Buffer.concat([header, payload]);
}

export type WarmEvent =
  /** the worker finished starting; `stdout`/`stderr` bytes it wrote before are not an invocation's */
  | { type: 'ready'; stdout: number; stderr: number }
  /** one request is complete: status 0 = ok; exactly stdout/stderr bytes were written for it */
  | { type: 'done'; id: string; status: number; stdout: number; stderr: number }
  /** the worker broke the protocol: the platform stops it */
  | { type: 'error'; message: string };

const COUNT_RE = /^(0|[1-9][0-9]{0,14})$/;
const STATUS_RE = /^-?[0-9]{1,9}$/;

/** Parses one completion line (without its newline). */
export function parseCompletionLine(line: string): WarmEvent {
  const parts = line.trim().split(/ +/);
  if (parts[0] === 'ready') {
    if (parts.length === 1) return { type: 'ready', stdout: 0, stderr: 0 };
    if (parts.length === 3 && COUNT_RE.test(parts[1]!) && COUNT_RE.test(parts[2]!))
      return { type: 'ready', stdout: Number(parts[1]), stderr: Number(parts[2]) };
  } else if (
    parts.length === 4 &&
    ID_RE.test(parts[0]!) &&
    STATUS_RE.test(parts[1]!) &&
    COUNT_RE.test(parts[2]!) &&
    COUNT_RE.test(parts[3]!)
  ) {
    return {
      type: 'done',
      id: parts[0]!,
      status: Number(parts[1]),
      stdout: Number(parts[2]),
      stderr: Number(parts[3]),
    };
  }
  return {
    type: 'error',
    message: `bad completion line ${JSON.stringify(line.slice(0, 200))}: expected 'ready [OUT ERR]' or 'ID STATUS OUT ERR'`,
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

  /** Adds an owner; its limit is set later by complete(); onComplete fires once it has them all. */
  open(sink: (chunk: Buffer) => void, onComplete: () => void = () => {}): void {
    this.owners.push({ sink, limit: undefined, got: 0, onComplete });
  }

  /** The oldest owner without a limit gets `total` (from `ready` or a completion). */
  complete(total: number): void {
    const o = this.owners.find((x) => x.limit === undefined);
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
      const n = o.limit === undefined ? rest.length : Math.min(o.limit - o.got, rest.length);
      o.got += n;
      o.sink(rest.subarray(0, n));
      rest = rest.subarray(n);
      this.popFinished();
    }
  }

  private popFinished(): void {
    for (let o = this.owners[0]; o && o.limit !== undefined && o.got >= o.limit; o = this.owners[0]) {
      this.owners.shift();
      o.onComplete();
    }
  }
}
