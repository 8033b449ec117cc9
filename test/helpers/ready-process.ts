/**
 * A spawned role (agni server, agent, nats-server) as the cluster tests and bench wait for it:
 * its stdout and stderr collected, resolved once they match `ready`, rejected when it exits first
 * or does not get there in time (the message carries the tail of what it printed).
 */
import type { ChildProcess } from 'node:child_process';

export interface ReadyProcess {
  p: ChildProcess;
  /** everything it printed so far, stdout and stderr */
  out(): string;
  match: RegExpExecArray;
}

/** `out` is there before it is ready, for callers that keep every role's output */
export function watchOutput(p: ChildProcess): () => string {
  let out = '';
  const onData = (d: Buffer) => {
    out += d;
  };
  p.stdout!.on('data', onData);
  p.stderr!.on('data', onData);
  return () => out;
}

export function untilReady(
  p: ChildProcess,
  ready: RegExp,
  what: string,
  timeoutMs: number,
  out: () => string = watchOutput(p),
): Promise<ReadyProcess> {
  const tail = () => out().slice(-4000);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${what} did not start: ${tail()}`)), timeoutMs);
    const look = () => {
      const m = ready.exec(out());
      if (!m) return;
      clearTimeout(timer);
      p.stdout!.off('data', look);
      p.stderr!.off('data', look);
      resolve({ p, out, match: m });
    };
    // Added after watchOutput's listeners, so `out()` already holds the chunk when this runs.
    p.stdout!.on('data', look);
    p.stderr!.on('data', look);
    p.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${what} exited ${code}: ${tail()}`));
    });
  });
}
