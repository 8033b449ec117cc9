import assert from 'node:assert/strict';
import { test } from 'node:test';
import { crossSiteProblem, hostOf, hostPolicy, hostProblem } from './allowed-hosts.js';

test('Host headers: localhost, IP literals and allowed names pass, any port; other names are refused', () => {
  const p = hostPolicy('127.0.0.1', ['agni.example.com']);
  for (const h of [
    'localhost',
    'localhost:8780',
    'LOCALHOST.:1',
    '127.0.0.1:8780',
    '[::1]:8780',
    '[::1]',
    '10.0.0.5',
    'agni.example.com',
    'Agni.Example.Com:443',
  ])
    assert.equal(hostProblem(h, p), undefined, h);
  for (const h of [
    'evil.example',
    'evil.example:8780',
    'agni.example.com.evil.example',
    'localhost.evil.example',
    'sub.localhost',
  ])
    assert.match(hostProblem(h, p) ?? '', /does not answer to the host name/, h);
  for (const h of [undefined, '', 'a b', 'x@localhost', 'localhost:port', '[::1', '[::1]x'])
    assert.match(hostProblem(h, p) ?? '', /missing or malformed/, String(h));
});

test('the listening address: a name is allowed; a wildcard address allows the machine name; * allows all', () => {
  assert.equal(hostProblem('box.lan:1', hostPolicy('box.lan', [])), undefined);
  assert.equal(hostProblem('build01:1', hostPolicy('0.0.0.0', [], 'build01')), undefined);
  assert.ok(hostProblem('build01:1', hostPolicy('127.0.0.1', [], 'build01')));
  assert.equal(hostProblem('anything.example', hostPolicy('127.0.0.1', ['*'])), undefined);
  assert.equal(hostOf('[FE80::1]:80'), 'fe80::1');
});

test('state-changing requests from another site are refused; same-origin, CLI and reads pass', () => {
  const host = '127.0.0.1:8780';
  assert.equal(crossSiteProblem('POST', { host }), undefined, 'the CLI and curl send no Origin');
  assert.equal(crossSiteProblem('POST', { host, origin: 'http://127.0.0.1:8780' }), undefined);
  assert.equal(crossSiteProblem('POST', { host, 'sec-fetch-site': 'same-origin' }), undefined);
  assert.equal(crossSiteProblem('POST', { host, 'sec-fetch-site': 'none' }), undefined);
  assert.equal(crossSiteProblem('GET', { host, origin: 'http://evil.example' }), undefined);
  for (const h of [
    { origin: 'http://evil.example' },
    { origin: 'http://127.0.0.1:9999' },
    { origin: 'null' },
    { origin: 'file://' },
    { 'sec-fetch-site': 'cross-site' },
    { 'sec-fetch-site': 'same-site' },
  ])
    for (const method of ['POST', 'PUT', 'DELETE', 'PATCH'])
      assert.ok(crossSiteProblem(method, { host, ...h }), `${method} ${JSON.stringify(h)}`);
});
