import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AgniError } from '../core/errors.js';
import { checkServerUrl, netCode, networkError } from './net-errors.js';

const errno = (code: string, message = code) => Object.assign(new Error(message), { code });

test('errno codes are found on the error or on the cause fetch wraps it in', () => {
  assert.equal(netCode(errno('ECONNREFUSED')), 'ECONNREFUSED');
  assert.equal(netCode(new TypeError('fetch failed', { cause: errno('ENOTFOUND') })), 'ENOTFOUND');
  assert.equal(
    netCode(new TypeError('fetch failed', { cause: errno('UND_ERR_SOCKET', 'other side closed') })),
    'UND_ERR_SOCKET',
  );
  assert.equal(netCode(new Error('socket hang up')), 'ECONNRESET');
  assert.equal(netCode(new Error('a bug')), undefined);
});

test('a network failure names the server, what happened and what to do; a bug passes through', () => {
  const refused = networkError(errno('ECONNREFUSED'), 'http://h:1');
  assert.ok(refused instanceof AgniError);
  assert.equal(refused.code, 'server_unreachable');
  assert.match(refused.message, /^cannot reach the Agni server at http:\/\/h:1: nothing listens there/);
  assert.match(refused.hint ?? '', /agni up/);
  assert.match(
    networkError(errno('EPIPE'), 'http://h:1')!.message,
    /^lost the connection to the Agni server/,
  );
  assert.match(
    networkError(new TypeError('fetch failed', { cause: new Error('bad port') }), 'http://h:1')!.message,
    /cannot reach the Agni server at http:\/\/h:1: bad port/,
  );
  assert.equal(networkError(new RangeError('oops'), 'http://h:1'), undefined);
});

test('AGNI_URL must be an http(s) URL; the fix is suggested', () => {
  assert.equal(checkServerUrl('http://127.0.0.1:8780/'), 'http://127.0.0.1:8780');
  assert.equal(checkServerUrl('https://agni.example.com'), 'https://agni.example.com');
  for (const [bad, fix] of [
    ['127.0.0.1:8780', 'http://127.0.0.1:8780'],
    ['localhost:8780', 'http://localhost:8780'],
    ['ftp://x', 'http://127.0.0.1:8780'],
  ] as const) {
    assert.throws(
      () => checkServerUrl(bad),
      (e: unknown) => e instanceof AgniError && e.code === 'bad_request' && e.hint === `e.g. AGNI_URL=${fix}`,
    );
  }
});
