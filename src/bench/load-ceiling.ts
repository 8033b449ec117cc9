/**
 * Starts a ceiling of `agni bench load` as a child process, so it has an event loop of its own as
 * the Agni server has, and the load generator drives both the same way: `hello` (hello-server.ts,
 * HTTP alone) or `worker` (worker-server.ts, HTTP + a warm Python worker + a SQLite row per call).
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AgniError } from '../core/errors.js';

export const CEILINGS = ['hello', 'worker'] as const;
export type Ceiling = (typeof CEILINGS)[number];

export const CEILING_TITLES: Record<Ceiling, string> = {
  hello: 'a bare Fastify "hello" server (HTTP alone)',
  worker: `a bare Fastify server + a warm Python no-op worker per slot + a SQLite row per call (no sandbox)`,
};

export async function startCeiling(
  kind: Ceiling = 'hello',
  /** worker: warm workers, one call each at a time (Agni's slots) */
  workers = 2,
): Promise<{ url: string; stop(): Promise<void> }> {
  const script = fileURLToPath(new URL(`./${kind}-server.js`, import.meta.url));
  const dir = kind === 'worker' ? await mkdtemp(join(tmpdir(), 'agni-ceiling-')) : undefined;
  const args = dir ? [script, String(workers), dir] : [script];
  const child = spawn(process.execPath, args, { stdio: ['pipe', 'pipe', 'inherit'] });
  const cleanup = () => (dir ? rm(dir, { recursive: true, force: true }) : Promise.resolve());
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('\n')) resolve(out.trim());
    });
    child.once('exit', (code) =>
      reject(new AgniError('internal', `the ${kind} ceiling server exited (code ${code}) before listening`)),
    );
  }).catch(async (e: unknown) => {
    await cleanup();
    throw e;
  });
  return {
    url,
    async stop() {
      if (child.exitCode === null) {
        child.stdin.end();
        await once(child, 'exit');
      }
      await cleanup();
    },
  };
}
