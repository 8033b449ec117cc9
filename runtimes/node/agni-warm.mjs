// Agni warm-worker helper for Node.js (docs/warm-protocol.md).
//
//   import { serve } from '/agni/runtimes/node/agni-warm.mjs';
//   serve(async (payload) => `hello ${payload}`);
//
// The handler gets the payload (a Buffer) and returns a Buffer, a string or nothing; what it writes
// to process.stdout/stderr (console.log too) goes to this invocation. Its second argument is the
// HTTP request that started the call (webhooks, HTTP invokes): { method, path, query, headers }
// (header names in lower case), or null for calls without one (cron, pipes, jobs). During the call
// the same is in process.env as AGNI_HTTP_METHOD, AGNI_HTTP_PATH, AGNI_HTTP_QUERY,
// AGNI_HTTP_HEADERS (JSON) and AGNI_HTTP_HEADER_<NAME>, as for a cold function. A thrown error fails only this
// invocation; process.exit() or a crash ends the worker and the platform starts a fresh one.
import { writeSync } from 'node:fs';
import { Socket } from 'node:net';

const counts = { out: 0, err: 0 };
function count(stream, key) {
  const write = stream.write.bind(stream);
  stream.write = (chunk, encoding, cb) => {
    counts[key] +=
      typeof chunk === 'string' ? Buffer.byteLength(chunk, typeof encoding === 'string' ? encoding : 'utf8') : chunk.length;
    return write(chunk, encoding, cb);
  };
}
count(process.stdout, 'out');
count(process.stderr, 'err');

function complete(line) {
  const data = Buffer.from(line);
  for (let off = 0; off < data.length; ) off += writeSync(4, data, off);
}

/** Waits until everything written to `stream` so far has been handed to the OS. */
function drained(stream) {
  return stream.writableLength === 0 ? Promise.resolve() : new Promise((r) => stream.once('drain', r));
}

/** Sets this call's variables (KEY=VALUE lines), after removing the previous call's. */
function setCallEnv(block, previous) {
  for (const k of Object.keys(previous)) delete process.env[k];
  const env = {};
  for (const line of block.toString().split('\n')) {
    const eq = line.indexOf('=');
    if (eq > 0) process.env[line.slice(0, eq)] = env[line.slice(0, eq)] = line.slice(eq + 1);
  }
  return env;
}

function requestOf(env) {
  if (env.AGNI_HTTP_METHOD === undefined) return null;
  return {
    method: env.AGNI_HTTP_METHOD,
    path: env.AGNI_HTTP_PATH ?? '',
    query: env.AGNI_HTTP_QUERY ?? '',
    headers: JSON.parse(env.AGNI_HTTP_HEADERS ?? '{}'),
  };
}

export function serve(handler) {
  const requests = new Socket({ fd: 3, readable: true, writable: false });
  let buf = Buffer.alloc(0);
  let busy = false;
  let callEnv = {};
  const pump = async () => {
    if (busy) return;
    busy = true;
    for (;;) {
      const nl = buf.indexOf(10);
      if (nl < 0) break;
      const [id, deadline, len, envLen] = buf.subarray(0, nl).toString().split(' ');
      const start = nl + 1 + Number(envLen);
      const end = start + Number(len);
      if (buf.length < end) break;
      callEnv = setCallEnv(buf.subarray(nl + 1, start), callEnv);
      const payload = Buffer.from(buf.subarray(start, end));
      buf = buf.subarray(end);
      process.env.AGNI_INVOCATION_ID = id;
      process.env.AGNI_DEADLINE_MS = deadline;
      const out0 = counts.out;
      const err0 = counts.err;
      let status = 0;
      try {
        const result = await handler(payload, requestOf(callEnv));
        if (result !== undefined && result !== null) process.stdout.write(result);
      } catch (e) {
        process.stderr.write(`${e?.stack ?? e}\n`);
        status = 1;
      }
      await Promise.all([drained(process.stdout), drained(process.stderr)]);
      complete(`${id} ${status} ${counts.out - out0} ${counts.err - err0}\n`);
    }
    busy = false;
  };
  requests.on('data', (c) => {
    buf = buf.length ? Buffer.concat([buf, c]) : c;
    void pump();
  });
  requests.on('end', () => process.exit(0));
  // "env": each request carries the call's environment (the HTTP request's AGNI_HTTP_*).
  complete(`ready ${counts.out} ${counts.err} env\n`);
}
