import assert from 'node:assert/strict';
import { createServer, type IncomingMessage, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { drainRequest } from './drain-request.js';

/** a server whose handler drains with the given bounds, and a client sending `chunks` MiB (Infinity: on and on) */
async function drained(maxMs: number, maxBytes: number, chunks: number, o: { endless?: boolean } = {}) {
  let result: { ms: number; complete: boolean } | undefined;
  const server = createServer(async (req: IncomingMessage, res) => {
    const t0 = performance.now();
    await drainRequest(req, maxMs, maxBytes);
    result = { ms: performance.now() - t0, complete: req.complete };
    res.writeHead(413, { connection: 'close' }).end('no');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const req = request({ port, host: '127.0.0.1', method: 'POST', path: '/' });
  req.on('error', () => {});
  const status = new Promise<number>((r) => req.on('response', (res) => r(res.statusCode ?? 0)));
  const chunk = Buffer.alloc(1024 * 1024);
  (async () => {
    for (let i = 0; i < chunks && !req.destroyed; i++) {
      if (!req.write(chunk)) await new Promise((r) => req.once('drain', r).once('close', r));
    }
    // endless: `chunks` sent of a longer body, then nothing: it waits for the answer
    if (!req.destroyed && !o.endless) req.end();
  })();
  const code = await status;
  req.destroy();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  return { code, ...result! };
}

test('the rest of a body is read to its end before the answer', async () => {
  const r = await drained(5_000, 64 * 1024 * 1024, 8);
  assert.equal(r.code, 413);
  assert.equal(r.complete, true);
});

test('a client that never stops sending is answered all the same, after the time bound or the byte bound', async () => {
  const byTime = await drained(300, Number.POSITIVE_INFINITY, Number.POSITIVE_INFINITY);
  assert.equal(byTime.complete, false);
  assert.ok(byTime.ms >= 250 && byTime.ms < 3_000, `${byTime.ms} ms`);
  const byBytes = await drained(60_000, 4 * 1024 * 1024, Number.POSITIVE_INFINITY);
  assert.equal(byBytes.complete, false);
  assert.ok(byBytes.ms < 30_000, `${byBytes.ms} ms`);
});

test('a client that stopped sending (it waits for the answer) is answered at once', async () => {
  const r = await drained(60_000, 64 * 1024 * 1024, 1, { endless: true });
  assert.equal(r.code, 413);
  assert.equal(r.complete, false);
  assert.ok(r.ms < 5_000, `${r.ms} ms`);
});
