/**
 * What is left of a request body, read and dropped before an error answers it. Node closes the
 * connection after answering a request it did not read to its end, and a client still sending then
 * gets a reset (EPIPE, ECONNRESET) that can take the answer with it: an upload over the payload
 * limit showed "lost the connection" instead of the limit's message. Only while the client sends:
 * one that stopped (it waits for the answer) is answered at once. Bounded in time and bytes, so a
 * client that never stops sending is answered all the same.
 */
import type { IncomingMessage } from 'node:http';

export const DRAIN_MAX_MS = 2_000;
export const DRAIN_MAX_BYTES = 64 * 1024 * 1024;
/** no byte for this long: the client is not sending, so nothing of it can be reset midway */
export const DRAIN_QUIET_MS = 100;

export function drainRequest(
  req: IncomingMessage,
  maxMs = DRAIN_MAX_MS,
  maxBytes = DRAIN_MAX_BYTES,
  quietMs = DRAIN_QUIET_MS,
): Promise<void> {
  if (req.complete || req.destroyed) return Promise.resolve();
  return new Promise((resolve) => {
    let seen = 0;
    const done = () => {
      clearTimeout(bound);
      clearTimeout(quiet);
      req.off('data', count);
      req.off('end', done);
      req.off('close', done);
      resolve();
    };
    const count = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen > maxBytes) done();
      else quiet.refresh();
    };
    const bound = setTimeout(done, maxMs);
    const quiet = setTimeout(done, quietMs);
    bound.unref();
    quiet.unref();
    req.on('data', count);
    req.once('end', done);
    req.once('close', done);
    req.resume();
  });
}
