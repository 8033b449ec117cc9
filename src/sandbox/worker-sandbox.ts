import type { ChildProcess } from 'node:child_process';
import type { Readable, Writable } from 'node:stream';
import type { WorkerExit, WorkerSandbox } from './backend.js';
import { streamHold } from './stdio.js';

/** A WorkerSandbox over a child spawned with five pipes: stdio, then fd 3 (requests) and fd 4 (completions). */
export function workerOf(
  id: string,
  child: ChildProcess,
  exited: Promise<WorkerExit>,
  kill: () => Promise<void>,
  processes: () => Promise<string[]>,
): WorkerSandbox {
  const pipe = (i: number) => child.stdio[i] as Readable & Writable;
  for (const i of [0, 3, 4]) pipe(i).on('error', () => {}); // EPIPE once the worker died
  const stdoutHold = streamHold(pipe(1));
  child.once('exit', () => stdoutHold.release());
  return {
    id,
    stdin: pipe(0),
    stdout: pipe(1),
    holdStdout: (p) => stdoutHold.hold(p),
    stderr: pipe(2),
    requests: pipe(3),
    completions: pipe(4),
    exited,
    kill,
    processes,
  };
}
