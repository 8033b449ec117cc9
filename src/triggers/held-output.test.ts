import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { BlobWriter } from '../store/blob/blob-store.js';
import { HeldOutput } from './held-output.js';

/** an in-memory blob writer that says what happened to it */
function fakeWriter(): { w: BlobWriter; chunks: Buffer[]; state: string[] } {
  const chunks: Buffer[] = [];
  const state: string[] = [];
  let kept = 0;
  const w: BlobWriter = {
    write(c) {
      chunks.push(c);
      kept += c.length;
    },
    get kept() {
      return kept;
    },
    get seen() {
      return kept;
    },
    async commit() {
      state.push('commit');
      return { bytes: kept };
    },
    async abort() {
      state.push('abort');
    },
  };
  return { w, chunks, state };
}

test('a small output stays in memory: no blob is opened, commit hands the bytes over', async () => {
  let opened = 0;
  const out = new HeldOutput(
    async () => {
      opened++;
      return fakeWriter().w;
    },
    1000,
    8,
  );
  assert.equal(out.write(Buffer.from('abc')), undefined);
  out.write(Buffer.from('defgh'));
  assert.equal(out.kept, 8);
  assert.deepEqual(await out.commit(), Buffer.from('abcdefgh'));
  assert.equal(opened, 0);
});

test('an output past the inline size spills into one blob writer, every byte in order', async () => {
  const f = fakeWriter();
  let opened = 0;
  const out = new HeldOutput(
    async () => {
      opened++;
      return f.w;
    },
    1000,
    4,
  );
  out.write(Buffer.from('ab'));
  const p = out.write(Buffer.from('cde'));
  assert.ok(p instanceof Promise, 'the producer waits while the blob is opened');
  // Written before the first spill settled: still in order, and the blob is opened once.
  await Promise.all([p, out.write(Buffer.from('f'))]);
  out.write(Buffer.from('g'));
  assert.equal(await out.commit(), undefined, 'nothing left to store in the row');
  assert.equal(Buffer.concat(f.chunks).toString(), 'abcdefg');
  assert.equal(opened, 1);
  assert.equal(out.kept, 7);
  assert.deepEqual(f.state, ['commit']);
});

test('a server limit below the inline size truncates in memory and never opens a blob', async () => {
  const out = new HeldOutput(async () => assert.fail('no blob for a truncated small output'), 5, 16);
  out.write(Buffer.from('abc'));
  out.write(Buffer.from('defgh'));
  out.write(Buffer.from('ij'));
  assert.equal(out.kept, 5);
  assert.deepEqual(await out.commit(), Buffer.from('abcde'));
});

test('a blob that cannot be opened fails the commit, not the function’s writes', async () => {
  const out = new HeldOutput(
    async () => {
      throw new Error('disk full');
    },
    1000,
    2,
  );
  await out.write(Buffer.from('abc'));
  await out.write(Buffer.from('d'));
  await assert.rejects(out.commit(), /disk full/);
});

test('abort drops a spilled output’s blob, and a held one with it', async () => {
  const f = fakeWriter();
  const out = new HeldOutput(async () => f.w, 1000, 2);
  await out.write(Buffer.from('abc'));
  await out.abort();
  assert.deepEqual(f.state, ['abort']);
  const held = new HeldOutput(async () => assert.fail('never opened'), 1000, 16);
  held.write(Buffer.from('x'));
  await held.abort();
});
