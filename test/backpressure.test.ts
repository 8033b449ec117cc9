/** Slots, per-function concurrency and the bounded queue, against a real server and real runc. */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { InvocationRecord } from '../src/store/store.js';
import { deployFiles } from './helpers/deploy.js';
import { startTestServer, type TestServer } from './helpers/server.js';

let s: TestServer;

const deploy = (yaml: string) => deployFiles(s.url, { 'agni.yaml': yaml });

const invoke = (name: string) => fetch(`${s.url}/v1/functions/${name}/invoke`, { method: 'POST', body: '' });

describe('back-pressure', () => {
  before(async () => {
    s = await startTestServer({ slots: 1, maxQueue: 1 });
  });
  after(async () => {
    await s?.close();
  });

  test('a full queue answers 429 with Retry-After; everything accepted completes', async () => {
    await deploy('name: nap\nruntime: host\ncommand: "sleep 1; echo done"\npool: {max: 0}\n');
    const rs = await Promise.all([invoke('nap'), invoke('nap'), invoke('nap'), invoke('nap')]);
    const bodies = await Promise.all(rs.map((r) => r.text()));
    const ok = rs.filter((r) => r.status === 200);
    const refused = rs.filter((r) => r.status === 429);
    assert.equal(ok.length, 2, `one runs and one waits: ${rs.map((r) => r.status)}`);
    assert.equal(refused.length, 2);
    for (const r of refused) assert.ok(Number(r.headers.get('retry-after')) >= 1);
    assert.equal(bodies.filter((b) => b === 'done\n').length, 2);
    assert.ok(bodies.some((b) => b.includes('"overloaded"')));
    const recs = (await (await fetch(`${s.url}/v1/functions/nap/invocations`)).json()) as {
      invocations: InvocationRecord[];
    };
    assert.equal(recs.invocations.length, 2, 'refused calls leave no record');
    assert.ok(recs.invocations.every((r) => r.status === 'succeeded'));
  });
});

describe('per-function concurrency', () => {
  before(async () => {
    s = await startTestServer({ slots: 2 });
  });
  after(async () => {
    await s?.close();
  });

  test('concurrency 1 runs one at a time even with free slots', async () => {
    await deploy('name: solo\nruntime: host\ncommand: "sleep 0.5"\nconcurrency: 1\npool: {max: 0}\n');
    const rs = await Promise.all([invoke('solo'), invoke('solo')]);
    for (const r of rs) assert.equal(r.status, 200);
    const recs = (
      (await (await fetch(`${s.url}/v1/functions/solo/invocations`)).json()) as {
        invocations: InvocationRecord[];
      }
    ).invocations;
    const [a, b] = recs.sort((x, y) => x.phases.placed! - y.phases.placed!);
    assert.ok(
      b!.phases.placed! >= a!.phases.finished! - 5,
      'the second is placed only after the first finished',
    );
  });
});
