import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, test } from 'node:test';
import { NOTHING_ALLOWED, parseAllowList } from '../core/address-policy.js';
import { DestinationRefused, guardedPost } from './guarded-post.js';

let target: Server;
let hits = 0;
let port = 0;
let redirector: Server;
let redirectPort = 0;

async function listen(s: Server): Promise<number> {
  s.listen(0, '127.0.0.1');
  await once(s, 'listening');
  return (s.address() as AddressInfo).port;
}

before(async () => {
  target = createServer((req, res) => {
    hits++;
    req.resume();
    res.end('ok');
  });
  port = await listen(target);
  // An allowed receiver that points elsewhere: the redirect is reported, never followed.
  redirector = createServer((req, res) => {
    req.resume();
    res.writeHead(302, { location: `http://127.0.0.1:${port}/stolen` }).end();
  });
  redirectPort = await listen(redirector);
});
after(() => {
  target.close();
  redirector.close();
});

const post = (url: string, allow = NOTHING_ALLOWED) => guardedPost(url, '{}', {}, allow, 5000);

test('loopback is refused by default, literal or by name, before anything is sent', async () => {
  hits = 0;
  for (const url of [
    `http://127.0.0.1:${port}/`,
    `http://2130706433:${port}/`,
    `http://localhost:${port}/`,
  ]) {
    await assert.rejects(
      post(url),
      (e) => e instanceof DestinationRefused && /loopback/.test(e.message),
      url,
    );
  }
  assert.equal(hits, 0);
});

test('what the operator allows is reached: an address, a range, a name', async () => {
  hits = 0;
  assert.equal(await post(`http://127.0.0.1:${port}/`, parseAllowList(['127.0.0.1'])), 200);
  assert.equal(await post(`http://127.1:${port}/`, parseAllowList(['127.0.0.0/8'])), 200);
  assert.equal(await post(`http://localhost:${port}/`, parseAllowList(['localhost'])), 200);
  assert.equal(hits, 3);
});

test('redirects are answered as they are, never followed', async () => {
  hits = 0;
  const allow = parseAllowList(['127.0.0.1']);
  assert.equal(await post(`http://127.0.0.1:${redirectPort}/`, allow), 302);
  assert.equal(hits, 0);
});
