import assert from 'node:assert/strict';
import { test } from 'node:test';
import { InsertGate } from './insert-gate.js';

function deferred() {
  let resolve!: () => void;
  let reject!: (e: unknown) => void;
  const p = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { p, resolve, reject };
}

test('output made before the insert is in waits for it, in order; later output goes at once', async () => {
  const insert = deferred();
  const gate = new InsertGate(() => insert.p);
  const got: string[] = [];
  const held = gate.pass(() => got.push('a'));
  gate.pass(() => got.push('b'));
  await new Promise((r) => setImmediate(r));
  assert.equal(got.length, 0, 'nothing reaches the caller before the record exists');
  assert.ok(held instanceof Promise, 'the producer is held meanwhile');
  insert.resolve();
  // A chunk made while the waiting ones are being handed on still comes after them.
  await Promise.resolve();
  gate.pass(() => got.push('c'));
  await gate.drained();
  assert.deepEqual(got, ['a', 'b', 'c']);
  assert.equal(
    gate.pass(() => got.push('d')),
    4,
    'once in and drained, at once',
  );
  assert.equal(gate.signal.aborted, false);
});

test("a failed insert stops the call (its signal), drops what waited, and keeps the caller's own abort", async () => {
  const insert = deferred();
  const gate = new InsertGate(() => insert.p);
  const got: string[] = [];
  const held = gate.pass(() => got.push('a'));
  insert.reject(new Error('store away'));
  await held;
  assert.equal(got.length, 0);
  assert.equal(gate.signal.aborted, true);
  assert.match(String((gate.signal.reason as Error).message), /store away/);
  await assert.rejects(gate.inserted, /store away/);

  const caller = new AbortController();
  const g2 = new InsertGate(async () => {}, caller.signal);
  caller.abort(new Error('client left'));
  assert.equal(g2.signal.aborted, true);
  assert.match((g2.signal.reason as Error).message, /client left/);
});

test('a caller that went away before the gate was made: its signal is aborted from the start', () => {
  const caller = new AbortController();
  caller.abort(new Error('gone already'));
  const g = new InsertGate(async () => {}, caller.signal);
  assert.equal(g.signal.aborted, true);
  assert.match((g.signal.reason as Error).message, /gone already/);
});

test('a delayed insert goes at now() (first output) or after its delay; a call that ends before is never inserted', async () => {
  let calls = 0;
  const insert = async () => {
    calls++;
  };
  const early = new InsertGate(insert, undefined, 10_000);
  assert.equal(calls, 0, 'waits for its delay');
  early.now();
  assert.equal(calls, 1, 'output on its way: at once');
  early.now();
  assert.equal(calls, 1, 'once');
  assert.equal(early.skip(), false, 'already in: the caller updates the row');
  await early.inserted;

  const late = new InsertGate(insert, undefined, 5);
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(calls, 2, 'outlived its delay: inserted');
  assert.equal(late.skip(), false);

  const short = new InsertGate(insert, undefined, 5);
  assert.equal(short.skip(), true, 'ended before: written whole by the caller');
  await short.inserted;
  await new Promise((r) => setTimeout(r, 30));
  short.now();
  assert.equal(calls, 2, 'never inserted, not even later');
});

test('stored() settles once the record is in: inserted, or written whole after a skip; rejects as that write did', async () => {
  const insert = deferred();
  const waiting = new InsertGate(() => insert.p, undefined, 10_000);
  let inserted = false;
  const asked = waiting.stored().then(() => {
    inserted = true;
  });
  waiting.now();
  await new Promise((r) => setImmediate(r));
  assert.equal(inserted, false, 'not before the insert is in');
  insert.resolve();
  await asked;

  // Asked before the call ended: a skip settles `inserted`, yet the whole write is what it waits for.
  const short = new InsertGate(async () => {}, undefined, 10_000);
  const whole = deferred();
  let written = false;
  const early = short.stored().then(() => {
    written = true;
  });
  assert.equal(short.skip(), true);
  void short.written(whole.p);
  await new Promise((r) => setImmediate(r));
  assert.equal(written, false, 'not before the whole record is written');
  whole.resolve();
  await early;
  await short.stored();

  const failed = new InsertGate(async () => {}, undefined, 10_000);
  failed.skip();
  failed.written(Promise.reject(new Error('store away'))).catch(() => undefined);
  await assert.rejects(failed.stored(), /store away/);
});
