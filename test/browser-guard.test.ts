/**
 * What a web page can make the operator's browser send, against a real server without a token:
 * simple cross-site requests (text/plain bodies, forms, a foreign Origin) and DNS rebinding (a
 * foreign Host). Sent with node:http so Host, Origin and Sec-Fetch-Site are exactly a browser's.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, test } from 'node:test';
import { runCli } from './helpers/agni-up.js';
import { deployFiles } from './helpers/deploy.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { fnDir, tarOf } from './helpers/tarball.js';

interface Answer {
  status: number;
  text: string;
  json: { error?: { code: string; message: string; hint?: string } };
}

function send(
  url: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: string | Buffer,
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(new URL(path, url), { method, headers }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c) => {
        text += c;
      });
      res.on('end', () => {
        let json = {};
        try {
          json = JSON.parse(text);
        } catch {}
        resolve({ status: res.statusCode ?? 0, text, json });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

describe('the API against a hostile web page', () => {
  let s: TestServer;
  let host: string;
  const manifest = 'name: echo\nruntime: host\ncommand: cat\n';

  before(async () => {
    s = await startTestServer({ allowedHosts: ['agni.example.com'] });
    host = new URL(s.url).host;
    await deployFiles(s.url, { 'agni.yaml': manifest });
  });
  after(async () => {
    await s?.close();
  });

  test('JSON and tar routes take only their content types (415 naming the header)', async () => {
    const alias = JSON.stringify({ canonical: 'docker.io/library/busybox:1', arch: 'arm64', image: 'x/y:1' });
    const plain = await send(s.url, 'PUT', '/v1/image-aliases', { 'content-type': 'text/plain' }, alias);
    assert.equal(plain.status, 415, plain.text);
    assert.equal(plain.json.error?.code, 'unsupported_media_type');
    assert.match(plain.json.error!.message, /content-type.*application\/json.*got text\/plain/);
    const job = (type: string, body: string) =>
      send(s.url, 'POST', '/v1/jobs', { 'content-type': type }, body);
    for (const [type, body] of [
      ['application/x-www-form-urlencoded', 'function=echo'],
      ['text/plain', '{"function":"echo"}'],
      ['multipart/form-data; boundary=x', '--x--'],
    ]) {
      const r = await job(type!, body!);
      assert.equal(r.status, 415, `${type}: ${r.text}`);
    }
    const typed = await job('application/json; charset=utf-8', '{"function":"echo"}');
    assert.equal(typed.status, 201, typed.text);

    const tar = await tarOf(fnDir({ 'agni.yaml': manifest.replace('echo', 'sneaky') }));
    const deploy = await send(s.url, 'POST', '/v1/functions', { 'content-type': 'text/plain' }, tar);
    assert.equal(deploy.status, 415, deploy.text);
    assert.match(deploy.json.error!.message, /application\/x-tar or application\/gzip\), got text\/plain/);
    assert.equal((await send(s.url, 'GET', '/v1/functions/sneaky', {})).status, 404, 'nothing was deployed');
  });

  test('a state change from another site is refused (Origin or Sec-Fetch-Site), the same origin passes', async () => {
    const browsers: Record<string, string>[] = [
      { origin: 'http://evil.example' },
      { origin: 'null' },
      { origin: `http://127.0.0.1:1` },
      { 'sec-fetch-site': 'cross-site' },
      { 'sec-fetch-site': 'same-site' },
    ];
    for (const h of browsers) {
      const r = await send(
        s.url,
        'POST',
        '/v1/functions/echo/invoke',
        { 'content-type': 'text/plain', ...h },
        'hi',
      );
      assert.equal(r.status, 403, `${JSON.stringify(h)}: ${r.text}`);
      assert.equal(r.json.error?.code, 'cross_origin');
      for (const path of ['/v1/functions/echo/async', '/v1/pipe']) {
        const a = await send(s.url, 'POST', path, { 'content-type': 'text/plain', ...h }, 'hi');
        assert.equal(a.status, 403, `${path} ${JSON.stringify(h)}: ${a.text}`);
      }
      const del = await send(s.url, 'DELETE', '/v1/functions/echo', h);
      assert.equal(del.status, 403, del.text);
    }
    const same = await send(
      s.url,
      'POST',
      '/v1/functions/echo/invoke',
      { 'content-type': 'text/plain', origin: `http://${host}`, 'sec-fetch-site': 'same-origin' },
      'same',
    );
    assert.equal(same.status, 200, same.text);
    assert.equal(same.text, 'same');
    // Reads are not state changes (and a foreign page cannot read the answer without CORS).
    const read = await send(s.url, 'GET', '/v1/functions', { origin: 'http://evil.example' });
    assert.equal(read.status, 200);
  });

  test('a Host the server does not answer to is refused (DNS rebinding); localhost, IPs and allowed names pass', async () => {
    const port = new URL(s.url).port;
    for (const method of ['GET', 'POST']) {
      const path = method === 'GET' ? '/v1/functions/echo' : '/v1/functions/echo/invoke';
      const r = await send(
        s.url,
        method,
        path,
        { host: `evil.example:${port}` },
        method === 'GET' ? undefined : 'x',
      );
      assert.equal(r.status, 421, r.text);
      assert.equal(r.json.error?.code, 'host_not_allowed');
      assert.match(r.json.error!.message, /evil\.example/);
      assert.match(r.json.error!.hint!, /--allow-host/);
    }
    assert.equal((await send(s.url, 'GET', '/healthz', { host: 'evil.example' })).status, 421);
    for (const h of [
      `localhost:${port}`,
      `127.0.0.1:${port}`,
      `[::1]:${port}`,
      'agni.example.com',
      `agni.example.com.:${port}`,
    ]) {
      const r = await send(s.url, 'POST', '/v1/functions/echo/invoke', { host: h }, 'ok');
      assert.equal(r.status, 200, `${h}: ${r.text}`);
    }
  });

  test('webhooks answer outsiders by an allowed public name, and nothing else', async () => {
    await deployFiles(s.url, {
      'agni.yaml': 'name: hooked\nruntime: host\ncommand: cat\ntriggers:\n  - webhook: /gh/push\n',
    });
    const gh = {
      host: 'agni.example.com',
      'content-type': 'application/json',
      'user-agent': 'GitHub-Hookshot/1',
    };
    const ok = await send(s.url, 'POST', '/hooks/gh/push', gh, '{"ref":"main"}');
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.text, '{"ref":"main"}');
    const rebound = await send(s.url, 'POST', '/hooks/gh/push', { ...gh, host: 'evil.example' }, '{}');
    assert.equal(rebound.status, 421, rebound.text);
    const page = await send(s.url, 'POST', '/hooks/gh/push', { ...gh, origin: 'http://evil.example' }, '{}');
    assert.equal(page.status, 403, page.text);
  });

  test('the CLI still works: deploy, JSON routes and invoke', async () => {
    const dir = fnDir({ 'agni.yaml': 'name: viacli\nruntime: host\ncommand: "tr a-z A-Z"\n' });
    const d = await runCli(s.url, ['deploy', dir]);
    assert.equal(d.code, 0, d.stderr);
    const inv = await runCli(s.url, ['invoke', 'viacli', '--data', 'cli']);
    assert.equal(inv.code, 0, inv.stderr);
    assert.equal(inv.stdout, 'CLI');
    const alias = await runCli(s.url, [
      'image',
      'alias',
      'set',
      'busybox:1',
      '--arch',
      'arm64',
      'example.com/busybox-arm:1',
    ]);
    assert.equal(alias.code, 0, alias.stderr);
    const ls = await runCli(s.url, ['ls']);
    assert.equal(ls.code, 0, ls.stderr);
  });
});
