/**
 * Warm workers frame each call as "id deadline length" followed by the payload (docs/warm-protocol.md),
 * so a streamed payload (e.g. a pipe stage's input) must be read whole before the call is sent. The
 * limit keeps that bounded: past it the invocation fails with payload_too_large instead of growing.
 */
import type { Readable } from 'node:stream';
import { AgniError } from '../core/errors.js';
import type { SandboxResult } from '../sandbox/backend.js';
import type { VersionRecord } from '../store/store.js';

/**
 * Reads `src` to its end. Resolves with the bytes, or with a result when the deadline passed
 * (timeout) or `signal` aborted first; rejects with payload_too_large past `limit` bytes. The
 * stream is left paused (not destroyed) when reading stops early: it belongs to the caller.
 */
export function bufferPayload(
  src: Readable,
  limit: number,
  deadline: number,
  signal: AbortSignal | undefined,
  v: Pick<VersionRecord, 'function'>,
): Promise<Buffer | SandboxResult> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      src.off('data', onData);
      src.off('end', onEnd);
      src.off('error', onEnd);
      src.pause();
    };
    const onData = (c: Buffer) => {
      size += c.length;
      if (size <= limit) {
        chunks.push(c);
        return;
      }
      stop();
      reject(
        new AgniError(
          'payload_too_large',
          `${v.function} is a warm function, so its streamed input is buffered, and it passed the limit of ${limit} bytes`,
          {
            hint: 'use lifecycle: cold for a function that takes large streams, or raise AGNI_MAX_PAYLOAD on the server',
            details: { limit_bytes: limit },
          },
        ),
      );
    };
    const onEnd = () => {
      stop();
      resolve(Buffer.concat(chunks, size));
    };
    const onAbort = () => {
      stop();
      resolve({ outcome: 'failed', exitCode: null, signal: 'SIGKILL', stdinBytes: size });
    };
    const timer = setTimeout(
      () => {
        stop();
        resolve({ outcome: 'timeout', exitCode: null, signal: null, stdinBytes: size });
      },
      Math.max(0, deadline - Date.now()),
    );
    if (signal?.aborted) return onAbort();
    if (src.readableEnded) return onEnd();
    signal?.addEventListener('abort', onAbort, { once: true });
    src.on('data', onData);
    src.once('end', onEnd);
    // A broken source ends the input, as it does for a cold sandbox's stdin.
    src.once('error', onEnd);
    src.resume();
  });
}
