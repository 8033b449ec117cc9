import assert from 'node:assert/strict';
import { test } from 'node:test';
import { TailBuffer } from './tail.js';

test('keeps only the last bytes but counts everything', () => {
  const t = new TailBuffer(5);
  t.push(Buffer.from('hello '));
  t.push(Buffer.from('world'));
  t.push(Buffer.from('!'));
  assert.equal(t.total, 12);
  assert.equal(t.toString(), 'orld!');
});

test('short output is kept whole', () => {
  const t = new TailBuffer(100);
  t.push(Buffer.from('abc'));
  assert.equal(t.toString(), 'abc');
  assert.equal(t.total, 3);
});
