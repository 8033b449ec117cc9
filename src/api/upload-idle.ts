/**
 * A request body that stops arriving must not hold anything forever (a slot, a sandbox, a buffer,
 * a connection): past `idleMs` without a byte while the server is reading it, `onIdle` runs.
 * Time the body waits on the server (not read yet, or paused because a stage reads slowly) is not
 * the sender's idleness and never counts.
 */
import type { IncomingMessage } from 'node:http';

export const DEFAULT_UPLOAD_IDLE_MS = 30_000;

/** The watch on each request, so a route can take over the server-wide one. */
const watches = new WeakMap<IncomingMessage, () => void>();

/**
 * Starts watching `req`'s body (instead of any earlier watch on it); returns the stop. Watching
 * reads only counters: the body's flow is untouched.
 */
export function watchUploadIdle(req: IncomingMessage, idleMs: number, onIdle: () => void): () => void {
  watches.get(req)?.();
  if (idleMs <= 0 || req.complete) return () => {};
  const socket = req.socket;
  let lastBytes = socket.bytesRead;
  let idleSince = Date.now();
  const timer = setInterval(
    () => {
      if (req.complete || req.destroyed) return stop();
      const bytes = socket.bytesRead;
      if (bytes !== lastBytes || req.readableFlowing !== true) {
        lastBytes = bytes;
        idleSince = Date.now();
        return;
      }
      if (Date.now() - idleSince < idleMs) return;
      stop();
      onIdle();
    },
    Math.max(10, Math.min(1000, Math.floor(idleMs / 5))),
  );
  timer.unref();
  const stop = () => {
    clearInterval(timer);
    req.off('end', stop);
    req.off('close', stop);
    if (watches.get(req) === stop) watches.delete(req);
  };
  req.once('end', stop);
  req.once('close', stop);
  watches.set(req, stop);
  return stop;
}

/** The error an idle upload ends with. */
export function uploadIdleMessage(idleMs: number): string {
  return `the request body sent nothing for ${idleMs / 1000}s; the upload was cut`;
}
