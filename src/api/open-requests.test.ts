import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { OpenRequests } from './open-requests.js';

test('a request is open until both its answer and its body are done', async () => {
  const open = new OpenRequests();
  const server = http.createServer((req, res) => {
    open.add(req, res);
    if (req.url === '/early') res.setHeader('agni-invocation-id', 'inv-1');
    res.end('ok'); // answered at once, body unread
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    assert.equal(await (await fetch(`${url}/x`)).text(), 'ok');
    assert.equal(await (await fetch(`${url}/y`, { method: 'POST', body: 'abc' })).text(), 'ok');
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(open.size, 0, 'finished requests are forgotten');
    // an upload still open after its answer keeps its connection: still listed
    const req = http.request(`${url}/early`, { method: 'POST' }, (res) => res.resume());
    req.flushHeaders();
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(open.describe(), ['POST /early (invocations inv-1)']);
    req.destroy();
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(open.size, 0);
  } finally {
    server.closeAllConnections();
    server.close();
  }
});
