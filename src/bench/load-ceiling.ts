/**
 * Starts the Fastify "hello" ceiling (hello-server.ts) as a child process, so it has an event loop
 * of its own as the Agni server has, and the load generator drives both the same way.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { AgniError } from '../core/errors.js';

export async function startCeiling(): Promise<{ url: string; stop(): Promise<void> }> {
  const script = fileURLToPath(new URL('./hello-server.js', import.meta.url));
  const child = spawn(process.execPath, [script], { stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout.on('data', (c: Buffer) => {
      out += c.toString();
      if (out.includes('\n')) resolve(out.trim());
    });
    child.once('exit', (code) =>
      reject(new AgniError('internal', `the Fastify ceiling server exited (code ${code}) before listening`)),
    );
  });
  return {
    url,
    async stop() {
      if (child.exitCode !== null) return;
      child.stdin.end();
      await once(child, 'exit');
    },
  };
}
