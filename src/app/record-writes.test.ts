import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { InvocationPatch } from '../store/store.js';
import { RecordWrites } from './record-writes.js';

/** a row written by slow writes that say when each one starts and ends */
function row() {
  const log: string[] = [];
  const state: InvocationPatch = {};
  let inflight = 0;
  const gates: (() => void)[] = [];
  const write = async (p: InvocationPatch) => {
    inflight++;
    assert.equal(inflight, 1, 'never two writes side by side');
    log.push(`start ${p.status}`);
    await new Promise<void>((r) => gates.push(r));
    Object.assign(state, p);
    inflight--;
    log.push(`end ${p.status}`);
  };
  const started = async () => {
    while (gates.length === 0) await new Promise((r) => setImmediate(r));
  };
  const open = async () => {
    await started();
    gates.shift()!();
  };
  return { log, state, write, started, open };
}

test('updates made while one is in flight fold into one write; the final one lands last', async () => {
  const r0 = row();
  const w0 = new RecordWrites(r0.write);
  // Made before the first write even started: one write in all.
  void w0.update({ status: 'running' });
  const only = w0.final({ status: 'succeeded' });
  await r0.open();
  await only;
  assert.deepEqual(r0.log, ['start succeeded', 'end succeeded']);

  const r = row();
  const w = new RecordWrites(r.write);
  const first = w.update({ status: 'running', node: 'server-pick' });
  await r.started();
  // The node confirms while the first is still being written: it waits, then the final folds in.
  const second = w.update({ status: 'running', node: 'n1', backend: 'runc' });
  const final = w.final({ status: 'succeeded', exitCode: 0 });
  assert.equal(second, final, 'the waiting update and the final are one write');
  await r.open();
  await first;
  await r.open();
  await final;
  assert.deepEqual(r.log, ['start running', 'end running', 'start succeeded', 'end succeeded']);
  assert.deepEqual(r.state, { status: 'succeeded', node: 'n1', backend: 'runc', exitCode: 0 });
  // A confirmation arriving after the final update is dropped: it would leave the call `running`.
  await w.update({ status: 'running' });
  assert.equal(r.state.status, 'succeeded');
  assert.equal(r.log.length, 4);
});

test("a failed update does not stop the later ones, and the final one's failure reaches its caller", async () => {
  let n = 0;
  const seen: InvocationPatch[] = [];
  const w = new RecordWrites(async (p) => {
    n++;
    seen.push({ ...p });
    if (p.status === 'running') throw new Error('store away');
    if (p.status === 'failed') throw new Error('still away');
  });
  await assert.rejects(w.update({ status: 'running' }), /store away/);
  await assert.rejects(w.final({ status: 'failed' }), /still away/);
  assert.equal(n, 2);
  assert.deepEqual(
    seen.map((p) => p.status),
    ['running', 'failed'],
  );
});
