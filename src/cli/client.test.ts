import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { ApiClient } from './client.js';

const run = promisify(execFile);

async function echoServer(t: { after(fn: () => void): void }) {
  const seen: { method: string; type: string | undefined; body: string; auth: string | undefined }[] = [];
  const server = createServer(async (req, res) => {
    let body = '';
    for await (const c of req) body += c;
    seen.push({
      method: req.method ?? '',
      type: req.headers['content-type'],
      body,
      auth: req.headers.authorization,
    });
    if (req.url === '/missing')
      return res
        .writeHead(404, { 'content-type': 'application/json' })
        .end(
          JSON.stringify({ error: { code: 'not_found', message: 'no such thing', hint: 'look elsewhere' } }),
        );
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ ok: true, echo: body }));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  t.after(() => server.close());
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

test('json: a body goes as JSON, none without one, the token as a bearer; an error answer is an AgniError', async (t) => {
  const { url, seen } = await echoServer(t);
  const client = new ApiClient(url, 'tok');
  assert.deepEqual(await client.json('POST', '/x', { a: 1 }), { ok: true, echo: '{"a":1}' });
  assert.deepEqual(await client.json('GET', '/y'), { ok: true, echo: '' });
  assert.deepEqual(seen[0], {
    method: 'POST',
    type: 'application/json',
    body: '{"a":1}',
    auth: 'Bearer tok',
  });
  assert.deepEqual(seen[1], { method: 'GET', type: undefined, body: '', auth: 'Bearer tok' });
  await assert.rejects(client.json('GET', '/missing'), (e: Error & { code?: string; hint?: string }) => {
    assert.equal(e.code, 'not_found');
    assert.equal(e.hint, 'look elsewhere');
    return true;
  });
});

test('json: a request does not load fetch’s implementation (undici), a large share of a command’s start', async (t) => {
  const { url } = await echoServer(t);
  const script = `
    import { ApiClient } from ${JSON.stringify(new URL('./client.js', import.meta.url).href)};
    await new ApiClient(${JSON.stringify(url)}).json('GET', '/');
    console.log(process.moduleLoadList.filter((m) => m.includes('undici')).length);
  `;
  const { stdout } = await run(process.execPath, ['--input-type=module', '-e', script]);
  assert.equal(stdout.trim(), '0');
});
