/**
 * Warm workers on runc: one long-lived `runc run` with fds 3 and 4 passed through
 * (`--preserve-fds 2`), built from the same bundle, spawn and exit classification as RuncBackend.run.
 */
import { AgniError } from '../core/errors.js';
import type { SandboxSpec, WorkerExit, WorkerSandbox } from './backend.js';
import { cgroupPids } from './cgroups.js';
import { processIdentities } from './proc-snapshot.js';
import { outcomeOf, type RuncBackend } from './runc-backend.js';
import { workerOf } from './worker-sandbox.js';

export async function startRuncWorker(backend: RuncBackend, spec: SandboxSpec): Promise<WorkerSandbox> {
  const { bundle, logFile } = await backend.writeBundle(spec);
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
      sb.finish();
    }
  })();
  return workerOf(
    spec.id,
    child,
    exited,
    () => sb.kill(),
    async () => processIdentities(cgroupPids(spec.id)),
  );
}
