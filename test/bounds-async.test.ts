/** The async queue's bound (429, nothing written), fan-out jobs under it, and the kept-output bound. */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { InvocationRecord } from '../src/store/store.js';
import { deployFiles } from './helpers/deploy.js';
import { startTestServer, type TestServer } from './helpers/server.js';

let s: TestServer;

const submit = (fn: string, body = 'x') =>
  fetch(`${s.url}/v1/functions/${fn}/async`, { method: 'POST', body });

async function json<T>(r: Response): Promise<T> {
  return (await r.json()) as T;
}

async function post(path: string, body: string | object, headers: Record<string, string> = {}) {
  const r = await fetch(`${s.url}${path}`, {
    method: 'POST',
    headers: typeof body === 'string' ? headers : { 'content-type': 'application/json', ...headers },
    body: typeof body === 'string' ? body : JSON.stringify(body),
  });
  return { status: r.status, body: await json<Record<string, unknown>>(r) };
}

describe('async queue bound', () => {
  before(async () => {
    s = await startTestServer({ slots: 1, limits: { maxAsyncQueue: 3 } });
    await deployFiles(s.url, { 'agni.yaml': 'name: nap\nruntime: host\ncommand: "sleep 1; cat"\n' });
    await deployFiles(s.url, { 'agni.yaml': 'name: echo\nruntime: host\ncommand: cat\n' });
  });
  after(async () => {
    await s?.close();
  });

  test('past --async-queue a submission is refused with 429 and Retry-After, and nothing is stored', async () => {
    const rs = await Promise.all(Array.from({ length: 6 }, () => submit('nap')));
    const accepted = rs.filter((r) => r.status === 202);
    const refused = rs.filter((r) => r.status === 429);
    assert.equal(accepted.length, 3, `statuses: ${rs.map((r) => r.status)}`);
    assert.equal(refused.length, 3);
    for (const r of refused) {
      assert.ok(Number(r.headers.get('retry-after')) >= 1);
      const e = (await json<{ error: { code: string; message: string; hint: string } }>(r)).error;
      assert.equal(e.code, 'overloaded');
      assert.match(e.message, /async queue is full \(3 /);
      assert.match(e.hint, /--async-queue/);
    }
    const recs = await json<{ invocations: InvocationRecord[] }>(
      await fetch(`${s.url}/v1/functions/nap/invocations`),
    );
    assert.equal(recs.invocations.length, 3, 'a refused submission leaves no record');
    const payloads = readdirSync(join(s.home, 'async', 'payloads'));
    assert.ok(payloads.length <= 3, `a refused submission leaves no payload file: ${payloads}`);
    // Once they settle there is room again.
    for (const r of accepted) {
      const { id } = await json<{ id: string }>(r);
      assert.equal((await fetch(`${s.url}/v1/invocations/${id}/result?wait=30`)).status, 200);
    }
    assert.equal((await submit('echo')).status, 202);
  });

  test('a job with more inputs and concurrency than the bound feeds them as room frees, and succeeds', async () => {
    const job = await post('/v1/jobs', { function: 'echo', concurrency: 8 });
    assert.equal(job.status, 201, JSON.stringify(job.body));
    const id = String(job.body.id);
    const lines = Array.from({ length: 8 }, (_, k) => `line ${k}`).join('\n');
    assert.equal((await post(`/v1/jobs/${id}/inputs`, lines, { 'agni-input-split': 'lines' })).status, 201);
    assert.equal((await post(`/v1/jobs/${id}/start`, {})).status, 200);
    let status = '';
    for (let i = 0; i < 300 && status !== 'succeeded' && status !== 'failed'; i++) {
      await new Promise((r) => setTimeout(r, 100));
      status = String((await json<{ status: string }>(await fetch(`${s.url}/v1/jobs/${id}`))).status);
    }
    const view = await json<{ status: string; counts: { succeeded: number } }>(
      await fetch(`${s.url}/v1/jobs/${id}`),
    );
    assert.equal(view.status, 'succeeded', JSON.stringify(view));
    assert.equal(view.counts.succeeded, 8);
  });
});

describe('async output bound', () => {
  before(async () => {
    s = await startTestServer({ slots: 1, limits: { maxOutputBytes: 1000 } });
  });
  after(async () => {
    await s?.close();
  });

  test('only --max-output bytes are kept; the function runs to completion and the result says what was kept', async () => {
    await deployFiles(s.url, {
      'agni.yaml':
        'name: loud\nruntime: host\ncommand: "head -c 50000 /dev/zero | tr \'\\\\0\' a; echo finished >&2"\n',
    });
    const r = await submit('loud');
    assert.equal(r.status, 202);
    const { id } = await json<{ id: string }>(r);
    const res = await fetch(`${s.url}/v1/invocations/${id}/result?wait=30`);
    assert.equal(res.status, 200);
    const body = await res.text();
    assert.equal(body.length, 1000);
    assert.equal(body, 'a'.repeat(1000));
    assert.equal(res.headers.get('agni-status'), 'succeeded');
    assert.equal(res.headers.get('agni-output-bytes'), '50000');
    assert.equal(res.headers.get('agni-output-truncated'), '1000');
    const rec = await json<InvocationRecord>(await fetch(`${s.url}/v1/invocations/${id}`));
    assert.equal(rec.stdoutBytes, 50000);
    assert.match(rec.stderrTail, /finished\n/, 'it ran to the end');
    assert.match(rec.stderrTail, /output truncated: kept the first 1000 of 50000 bytes .*--max-output/);
  });
});
