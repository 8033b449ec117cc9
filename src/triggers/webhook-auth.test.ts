import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { test } from 'node:test';
import { signBody, webhookDenied } from './webhook-auth.js';

const SECRET = 'it-is-a-secret';
const body = Buffer.from('{"ref":"main"}');

test('no secret configured: anyone may call', () => {
  assert.equal(webhookDenied(undefined, {}, body), undefined);
});

test('the secret header or a GitHub-style signature lets the caller in', () => {
  assert.equal(webhookDenied(SECRET, { 'x-agni-secret': SECRET }, body), undefined);
  const sig = `sha256=${createHmac('sha256', SECRET).update(body).digest('hex')}`;
  assert.equal(signBody(SECRET, body), sig);
  assert.equal(webhookDenied(SECRET, { 'x-hub-signature-256': sig }, body), undefined);
  assert.equal(
    webhookDenied(SECRET, { 'x-hub-signature-256': sig.toUpperCase().replace('SHA256', 'sha256') }, body),
    undefined,
  );
  // either credential is enough when both are sent
  assert.equal(
    webhookDenied(SECRET, { 'x-agni-secret': 'wrong', 'x-hub-signature-256': sig }, body),
    undefined,
  );
});

test('missing or wrong credentials are refused with a reason that does not contain the secret', () => {
  const reasons = [
    webhookDenied(SECRET, {}, body),
    webhookDenied(SECRET, { 'x-agni-secret': 'wrong' }, body),
    webhookDenied(SECRET, { 'x-agni-secret': `${SECRET}x` }, body),
    webhookDenied(SECRET, { 'x-hub-signature-256': signBody(SECRET, Buffer.from('other body')) }, body),
    webhookDenied(SECRET, { 'x-hub-signature-256': signBody('wrong-secret', body) }, body),
    webhookDenied(SECRET, { 'x-hub-signature-256': 'sha1=abc' }, body),
  ];
  assert.match(reasons[0]!, /needs its secret/);
  assert.match(reasons[1]!, /secret does not match/);
  assert.match(reasons[3]!, /X-Hub-Signature-256 does not match/);
  for (const r of reasons) {
    assert.ok(r, 'refused');
    assert.ok(!r.includes(SECRET));
  }
});
