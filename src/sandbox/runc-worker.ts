/**
 * Warm workers on runc: one long-lived `runc run` with fds 3 and 4 passed through
 * (`--preserve-fds 2`), built from the same bundle, spawn and exit classification as RuncBackend.run.
 */
import { AgniError } from '../core/errors.js';
import type { SandboxSpec, WorkerExit, WorkerSandbox } from './backend.js';
import { CgroupProcesses } from './cgroup-processes.js';
import { cgroupProcsFile } from './cgroups.js';
import { type LoopbackForward, openLoopbackForward } from './loopback-forward.js';
import { outcomeOf, type RuncBackend } from './runc-backend.js';
import { workerOf } from './worker-sandbox.js';

/** The sandbox's own network namespace with its loopback forward, when the spec asks for one. */
async function forwardOf(backend: RuncBackend, spec: SandboxSpec): Promise<LoopbackForward | undefined> {
  const f = spec.loopbackForward;
  if (!f) return undefined;
  if (spec.network !== 'none')
    throw new AgniError('sandbox_error', `sandbox '${spec.id}': a loopback forward needs network none`);
  return openLoopbackForward(backend.netnsName(spec.id), f.port, f.socket);
}

export async function startRuncWorker(backend: RuncBackend, spec: SandboxSpec): Promise<WorkerSandbox> {
  // Made before the container, so whatever it runs first finds the port listening.
  const forward = await forwardOf(backend, spec);
  let written: { bundle: string; logFile: string };
  try {
    written = await backend.writeBundle(spec, forward?.netns);
  } catch (e) {
    await forward?.close();
    throw e;
  }
  const { bundle, logFile } = written;
  const sb = backend.spawnSandbox(spec.id, bundle, logFile, 2);
  const { child } = sb;
  const stderr: Buffer[] = [];
  const exited = (async (): Promise<WorkerExit> => {
    const exit = await sb.exit;
    try {
      // onStderr only sees runc's "exec: not found" message, which the worker then reports as its stderr
      const r = await outcomeOf(sb, exit, { onStderr: (c) => stderr.push(c) });
      return { ...r, ...(stderr.length ? { note: Buffer.concat(stderr).toString() } : {}) };
    } catch (e) {
      return {
        outcome: 'failed',
        exitCode: exit.code,
        signal: exit.signal,
        error: e instanceof AgniError ? e.message : String(e),
      };
    } finally {
      await forward?.close();
      sb.finish();
    }
  })();
  const procs = new CgroupProcesses(cgroupProcsFile(spec.id));
  void exited.finally(() => procs.close());
  return workerOf(
    spec.id,
    child,
    exited,
    () => sb.kill(),
    async () => procs.identities(),
  );
}
