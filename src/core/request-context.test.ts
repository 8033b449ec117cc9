import assert from 'node:assert/strict';
import { test } from 'node:test';
import { callTimeout, parseCallTimeout } from './call-timeout.js';
import {
  contextEnv,
  headerEnvName,
  MAX_HEADER_BYTES,
  MAX_HEADERS,
  MAX_QUERY_BYTES,
  parseStoredContext,
  requestContext,
} from './request-context.js';

const raw = (url: string, ...headers: string[]) => ({ method: 'POST', url, rawHeaders: headers });

test('method, raw path and query, headers by lower-case name; repeats joined', () => {
  const c = requestContext(
    raw('/hooks/gh?ref=main&x=%20', 'X-GitHub-Event', 'push', 'Accept', 'a', 'accept', 'b'),
  );
  assert.deepEqual(c, {
    method: 'POST',
    path: '/hooks/gh',
    query: 'ref=main&x=%20',
    headers: { 'x-github-event': 'push', accept: 'a, b' },
  });
  assert.equal(requestContext(raw('/p')).query, '');
});

test('credentials never pass: masked names, and any value holding the token or the secret', () => {
  const c = requestContext(
    raw(
      '/h',
      'Authorization',
      'Bearer tok-123456',
      'Cookie',
      'a=b',
      'X-Agni-Secret',
      's3cret-value',
      'Proxy-Authorization',
      'Basic x',
      'X-Gitlab-Token',
      'gl',
      'X-Other',
      'has tok-123456 inside',
      'X-Copy',
      'again s3cret-value',
      'X-Hub-Signature-256',
      'sha256=ab',
    ),
    ['tok-123456', 's3cret-value'],
  );
  assert.deepEqual(c.headers, { 'x-hub-signature-256': 'sha256=ab' });
  assert.equal(c.truncated, undefined, 'masking is not truncation');
});

test('bounds: at most MAX_HEADERS headers and MAX_HEADER_BYTES; a header that does not fit is left out whole', () => {
  const many: string[] = [];
  for (let i = 0; i < MAX_HEADERS + 6; i++) many.push(`X-H${i}`, 'v');
  const c = requestContext(raw('/', ...many));
  assert.equal(Object.keys(c.headers).length, MAX_HEADERS);
  assert.deepEqual(c.truncated, { headers: 6 });

  const big = 'y'.repeat(MAX_HEADER_BYTES);
  const d = requestContext(raw('/', 'X-Big', big, 'X-Small', 'ok'));
  assert.deepEqual(d.headers, { 'x-small': 'ok' });
  assert.deepEqual(d.truncated, { headers: 1 });

  const q = 'a'.repeat(MAX_QUERY_BYTES + 10);
  const e = requestContext(raw(`/p?${q}`));
  assert.equal(e.query.length, MAX_QUERY_BYTES);
  assert.deepEqual(e.truncated, { query: true });
});

test('the environment a function sees', () => {
  const env = contextEnv(
    requestContext(raw('/hooks/gh?a=1', 'X-GitHub-Event', 'push', 'X-Big', 'y'.repeat(MAX_HEADER_BYTES))),
  );
  assert.deepEqual(env, {
    AGNI_HTTP_METHOD: 'POST',
    AGNI_HTTP_PATH: '/hooks/gh',
    AGNI_HTTP_QUERY: 'a=1',
    AGNI_HTTP_HEADERS: '{"x-github-event":"push"}',
    AGNI_HTTP_HEADER_X_GITHUB_EVENT: 'push',
    AGNI_HTTP_TRUNCATED: 'headers:1',
  });
  assert.deepEqual(contextEnv(undefined), {});
  assert.equal(headerEnvName('content.type-x'), 'AGNI_HTTP_HEADER_CONTENT_TYPE_X');
});

test('a stored context round-trips; a malformed one is dropped', () => {
  const c = requestContext(raw('/x?y', 'A', 'b'));
  assert.deepEqual(parseStoredContext(JSON.stringify(c)), c);
  assert.equal(parseStoredContext('{"method":1}'), undefined);
  assert.equal(parseStoredContext('not json'), undefined);
  assert.equal(parseStoredContext(null), undefined);
});

test('per-call timeout: a duration within the limit; anything else refused naming the header', () => {
  assert.equal(parseCallTimeout(undefined), undefined);
  assert.equal(parseCallTimeout('2s'), 2000);
  assert.equal(parseCallTimeout('250ms'), 250);
  assert.throws(() => parseCallTimeout('soon'), /Agni-Timeout.*expected a duration/);
  assert.throws(() => parseCallTimeout('0s'), /Agni-Timeout/);
  assert.equal(callTimeout(undefined, 30_000, 'f'), 30_000);
  assert.equal(callTimeout(1000, 30_000, 'f'), 1000);
  assert.equal(callTimeout(30_000, 30_000, 'f'), 30_000);
  assert.throws(() => callTimeout(31_000, 30_000, 'f'), /longer than f's limits.timeout of 30000 ms/);
});
