/**
 * Stdio plumbing shared by the backends, so every path (fresh runc, prepared runc, process) streams
 * the same way: a payload that is a Buffer or a stream goes into the sandbox's stdin only as fast as
 * the sandbox reads it, and stdout waits for a consumer that says it is full.
 */
import type { Readable, Writable } from 'node:stream';
import type { SandboxIO } from './backend.js';

export interface StdinFeed {
  /** bytes handed to the sandbox's stdin so far */
  readonly bytes: number;
  /** stops reading the source, which stays open and paused for its owner; safe to call twice */
  detach(): void;
}

/**
 * Writes `src` into `dest` (a sandbox's stdin pipe). A stream is paused whenever the pipe is full and
 * resumed on drain; its end (or error) becomes EOF for the sandbox. The source is never ended or
 * destroyed here: a sandbox that exits without reading everything leaves the rest to the owner.
 */
export function feedStdin(src: Buffer | Readable, dest: Writable | null | undefined): StdinFeed {
  if (!dest) return { bytes: 0, detach() {} };
  if (Buffer.isBuffer(src)) {
    dest.end(src);
    return { bytes: src.length, detach() {} };
  }
  let bytes = 0;
  let done = false;
  const onData = (c: Buffer) => {
    bytes += c.length;
    if (!dest.write(c)) src.pause();
  };
  const onDrain = () => src.resume();
  const onEnd = () => {
    detach();
    dest.end();
  };
  const detach = () => {
    if (done) return;
    done = true;
    src.off('data', onData);
    src.off('end', onEnd);
    src.off('error', onEnd);
    dest.off('drain', onDrain);
    dest.off('close', detach);
    src.pause();
  };
  if (src.readableEnded || src.destroyed) {
    dest.end();
    return { bytes: 0, detach() {} };
  }
  src.on('data', onData);
  src.once('end', onEnd);
  // A broken source (e.g. an aborted upload) is EOF for the sandbox; its owner handles the error.
  src.once('error', onEnd);
  dest.on('drain', onDrain);
  // The sandbox closed its stdin or exited: stop reading, the rest is the owner's.
  dest.once('close', detach);
  src.resume(); // a 'data' listener alone does not restart a stream its owner paused
  return {
    get bytes() {
      return bytes;
    },
    detach,
  };
}

/** What a result reports about stdin: only a streamed payload's size is news (a buffer's is known). */
export function stdinReport(stdin: Buffer | Readable, feed: StdinFeed | undefined): { stdinBytes?: number } {
  return Buffer.isBuffer(stdin) ? {} : { stdinBytes: feed?.bytes ?? 0 };
}

export interface StreamHold {
  /** pauses the stream until `p` settles (several holds: until all settled); a no-op once released */
  hold(p: Promise<unknown>): void;
  /** stops holding for good: after the sandbox exited, what is left in the pipe is bounded and must drain */
  release(): void;
}

/** Backpressure on a sandbox's output pipe: paused while a consumer is full, never after release. */
export function streamHold(stream: Readable): StreamHold {
  let held = 0;
  let released = false;
  return {
    hold(p) {
      if (released) return;
      held++;
      stream.pause();
      const resume = () => {
        held--;
        if (held === 0 && !released) stream.resume();
      };
      p.then(resume, resume);
    },
    release() {
      released = true;
      stream.resume();
    },
  };
}

/** Forwards `stream` to `onStdout`; a promise it returns pauses the stream until it settles. */
export function forwardStdout(
  stream: Readable | null | undefined,
  onStdout: SandboxIO['onStdout'],
): Pick<StreamHold, 'release'> {
  if (!stream) return { release() {} };
  const h = streamHold(stream);
  stream.on('data', (c: Buffer) => {
    const p = onStdout(c);
    if (p instanceof Promise) h.hold(p);
  });
  return h;
}

/** Runs `kill` when `signal` aborts (at once if it already has); returns the unsubscribe. */
export function onAbort(signal: AbortSignal | undefined, kill: () => void): () => void {
  if (!signal) return () => {};
  if (signal.aborted) {
    kill();
    return () => {};
  }
  signal.addEventListener('abort', kill, { once: true });
  return () => signal.removeEventListener('abort', kill);
}
