/** `--data TEXT`, `--data @FILE` or stdin: the one way every verb that sends a payload reads it. */
import { open } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { AgniError } from '../core/errors.js';

function unreadable(data: string, e: unknown): AgniError {
  return new AgniError(
    'bad_request',
    `--data ${data}: cannot read ${data.slice(1)}: ${(e as NodeJS.ErrnoException).code ?? e}`,
  );
}

/** The payload as a stream where it can be one: a large file or stdin is never read whole. */
export async function payloadSource(data: string | undefined): Promise<Buffer | Readable> {
  if (data !== undefined) {
    if (!data.startsWith('@')) return Buffer.from(data);
    try {
      return (await open(data.slice(1), 'r')).createReadStream();
    } catch (e) {
      throw unreadable(data, e);
    }
  }
  return process.stdin.isTTY ? Buffer.alloc(0) : process.stdin;
}

/** The whole payload in memory, for routes that take a buffered body. */
export async function readPayload(data: string | undefined): Promise<Buffer> {
  const src = await payloadSource(data);
  if (Buffer.isBuffer(src)) return src;
  const chunks: Buffer[] = [];
  try {
    for await (const c of src) chunks.push(c as Buffer);
  } catch (e) {
    // e.g. EISDIR: `open` succeeds on a directory, reading it does not
    if (data !== undefined) throw unreadable(data, e);
    throw e;
  }
  return Buffer.concat(chunks);
}
