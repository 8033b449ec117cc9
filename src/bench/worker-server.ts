/**
 * The second ceiling of `agni bench load`: what a durable warm call needs at the least on this
 * machine. A bare Fastify server whose invoke route hands the body to a warm Python no-op worker
 * (the platform's own runtimes/python/agni_warm.py, as a plain child process: no sandbox, no cgroup)
 * over the warm protocol, one call per worker at a time, and records the call in SQLite (an insert
 * when it arrives, an update when it ends, each its own commit). Everything Agni adds beyond that
 * (isolation, routing, scopes, metrics, events, records of the phases) is the distance to it.
 * Run as a script: `worker-server.js WORKERS DIR`; prints its URL once listening, stops on SIGTERM or
 * stdin's end.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { join } from 'node:path';
import type { Readable, Writable } from 'node:stream';
import Database from 'better-sqlite3';
import Fastify from 'fastify';
import { RUNTIMES_DIR } from '../agent/warm-workers.js';
import { CompletionParser, encodeRequest } from '../core/warm-frames.js';
import { serveAsScript } from './ceiling-script.js';

const WORKER = `import sys; sys.path.insert(0, sys.argv[1]); import agni_warm; agni_warm.serve(lambda payload: b"")`;

interface Worker {
  child: ChildProcess;
  requests: Writable;
  /** the call it runs now */
  done: (() => void) | undefined;
}

export async function startWorkerServer(
  workers: number,
  dir: string,
): Promise<{ url: string; close(): Promise<void> }> {
  const db = new Database(join(dir, 'calls.db'));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = NORMAL');
  db.exec('create table calls (id text primary key, status text, created_at integer, finished_at integer)');
  const insert = db.prepare('insert into calls (id, status, created_at) values (?, ?, ?)');
  const finish = db.prepare('update calls set status = ?, finished_at = ? where id = ?');

  const idle: Worker[] = [];
  const waiting: Array<(w: Worker) => void> = [];
  const release = (w: Worker) => {
    const next = waiting.shift();
    if (next) next(w);
    else idle.push(w);
  };
  const ready: Promise<void>[] = [];
  const all: Worker[] = [];
  for (let i = 0; i < workers; i++) {
    const child = spawn('python3', ['-c', WORKER, join(RUNTIMES_DIR, 'python')], {
      stdio: ['ignore', 'ignore', 'inherit', 'pipe', 'pipe'],
    });
    const w: Worker = { child, requests: child.stdio[3] as Writable, done: undefined };
    all.push(w);
    const parser = new CompletionParser();
    ready.push(
      new Promise((resolve, reject) => {
        child.once('error', reject);
        child.once('exit', (code) => reject(new Error(`a python3 worker exited (code ${code})`)));
        (child.stdio[4] as Readable).on('data', (chunk: Buffer) => {
          for (const ev of parser.push(chunk)) {
            if (ev.type === 'ready') {
              resolve();
              release(w);
            } else if (ev.type === 'done') {
              const done = w.done;
              w.done = undefined;
              done?.();
              release(w);
            }
          }
        });
      }),
    );
  }
  await Promise.all(ready);

  let seq = 0;
  const app = Fastify({ logger: false });
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
  app.post('/v1/functions/:name/invoke', async (req) => {
    const id = `call_${++seq}`;
    insert.run(id, 'running', Date.now());
    const w = idle.pop() ?? (await new Promise<Worker>((resolve) => waiting.push(resolve)));
    await new Promise<void>((resolve) => {
      w.done = resolve;
      const payload = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      // agni_warm asks for each call's environment (`ready … env`): an empty one
      w.requests.write(encodeRequest(id, Date.now() + 60_000, payload, {}));
    });
    finish.run('succeeded', Date.now(), id);
    return '';
  });
  const url = await app.listen({ host: '127.0.0.1', port: 0 });
  return {
    url,
    async close() {
      await app.close();
      for (const w of all) {
        w.child.removeAllListeners('exit');
        w.child.kill();
      }
      db.close();
    },
  };
}

if (process.argv[1] && import.meta.url.endsWith(process.argv[1].replace(/^.*\//, '/')))
  await serveAsScript(() => startWorkerServer(Number(process.argv[2]), String(process.argv[3])));
