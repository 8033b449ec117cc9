import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AgniError } from '../core/errors.js';
import { newKeyPair, open, seal, sealContext } from './secret-seal.js';

const value = Buffer.from('s3cr3t-value-for-the-test');

test('a sealed answer opens with the agent key and the same version only', () => {
  const agent = newKeyPair();
  const ctx = sealContext('fn', 3);
  const s = seal(value, agent.publicKey, ctx);
  assert.ok(!Buffer.from(JSON.stringify(s)).includes(value), 'the value is not in the answer in clear');
  assert.deepEqual(open(s, agent.privateKey, ctx), value);
  assert.throws(() => open(s, agent.privateKey, sealContext('fn', 4)), AgniError);
  assert.throws(() => open(s, newKeyPair().privateKey, ctx), AgniError);
  const data = Buffer.from(s.data, 'base64');
  data[0] = (data[0] ?? 0) ^ 1;
  assert.throws(() => open({ ...s, data: data.toString('base64') }, agent.privateKey, ctx), AgniError);
});

test('each answer has its own server key, so the same value seals differently', () => {
  const agent = newKeyPair();
  const a = seal(value, agent.publicKey, 'c');
  const b = seal(value, agent.publicKey, 'c');
  assert.notEqual(a.epk, b.epk);
  assert.notEqual(a.data, b.data);
});

test('a key that is not X25519 is refused, naming the field', () => {
  assert.throws(() => seal(value, 'bm90IGEga2V5', 'c'), /key: not an X25519 public key/);
});
