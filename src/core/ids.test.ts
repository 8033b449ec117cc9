import assert from 'node:assert/strict';
import { test } from 'node:test';
import { newId } from './ids.js';

test('ids: prefix, time, 12 hex digits; no two alike across many pool refills', () => {
  const seen = new Set<string>();
  for (let i = 0; i < 5000; i++) {
    const id = newId('inv');
    assert.match(id, /^inv-[0-9a-z]+[0-9a-f]{12}$/);
    seen.add(id.slice(-12));
  }
  assert.equal(seen.size, 5000);
});
