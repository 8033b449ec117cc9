/**
 * Queue pickup of job items (issue 12): from an item's submission (received) to its placement on
 * a slot (placed), on a real `agni up` (runc, 2 slots) with warm workers. The next item is picked
 * up as soon as a sandbox ends (not after the last one's outcome was written), its settle reaches
 * the job at once (not through the bus and a store read), and its payload is not copied and
 * fsynced again: before, the median was 20 to 45 ms here; now a few milliseconds.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { InvocationRecord } from '../src/store/store.js';
import type { Job, JobItem } from '../src/triggers/jobs-types.js';
import { type AgniUp, runCli, spawnAgniUp, stopAgniUp } from './helpers/agni-up.js';
import { fnDir } from './helpers/tarball.js';

const root = mkdtempSync(join(tmpdir(), 'agni-mappickup-'));
let up: AgniUp;
const ITEMS = 40;
/**
 * the bound on the median: the issue asks for single-digit milliseconds on a quiet machine. The
 * machine is shared: when the load average is over the cores, every hop of the path waits for a
 * core, so the bound grows with the oversubscription (a quiet machine gets 10 ms).
 */
const MEDIAN_MS = 10;
const oversubscribed = () => Math.max(1, loadavg()[0]! / availableParallelism());

async function api<T>(method: string, path: string, body?: unknown, headers = {}): Promise<T> {
  const isBuf = Buffer.isBuffer(body);
  const r = await fetch(`${up.url}${path}`, {
    method,
    ...(body === undefined
      ? {}
      : {
          headers: { 'content-type': isBuf ? 'application/octet-stream' : 'application/json', ...headers },
          body: isBuf ? new Uint8Array(body) : JSON.stringify(body),
        }),
  });
  const text = await r.text();
  assert.ok(r.status < 300, `${method} ${path}: ${r.status} ${text}`);
  return JSON.parse(text) as T;
}

async function runJob(n: number): Promise<Job> {
  const job = await api<Job>('POST', '/v1/jobs', { function: 'echo-warm', concurrency: 2 });
  const lines = Buffer.from(Array.from({ length: n }, (_, i) => `${i}\n`).join(''));
  await api('POST', `/v1/jobs/${job.id}/inputs`, lines, { 'agni-input-split': 'lines' });
  await api('POST', `/v1/jobs/${job.id}/start`);
  for (;;) {
    const j = await api<Job>('GET', `/v1/jobs/${job.id}`);
    if (j.status === 'succeeded' || j.status === 'failed') return j;
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('job items: queue pickup (runc, warm workers)', () => {
  before(async () => {
    up = await spawnAgniUp(join(root, 'home'), ['--backend', 'runc', '--slots', '2']);
    const dir = fnDir({
      'agni.yaml':
        'name: echo-warm\nruntime: host\ncommand: ["python3", "/fn/main.py"]\nlifecycle: warm\npool:\n  max: 2\n  idle: 60s\nlimits:\n  memory: 64Mi\n  timeout: 10s\n',
      'main.py': [
        'import os, sys',
        'sys.path.insert(0, os.path.join(os.environ.get("AGNI_RUNTIMES", "/agni/runtimes"), "python"))',
        'import agni_warm',
        'agni_warm.serve(lambda payload: payload)',
        '',
      ].join('\n'),
    });
    const r = await runCli(up.url, ['deploy', dir]);
    assert.equal(r.code, 0, r.stderr);
    // Workers started and code warm: what follows is the steady state.
    assert.equal((await runJob(4)).status, 'succeeded');
  });

  after(async () => {
    await stopAgniUp(up?.p);
    rmSync(root, { recursive: true, force: true });
  });

  test(`received → placed median under ${MEDIAN_MS} ms (quiet machine), concurrency = slots`, async (t) => {
    const job = await runJob(ITEMS);
    const bound = MEDIAN_MS * oversubscribed();
    assert.equal(job.status, 'succeeded', job.error ?? '');
    const { items } = await api<{ items: JobItem[] }>('GET', `/v1/jobs/${job.id}/items?limit=${ITEMS}`);
    const pickup: number[] = [];
    for (const it of items) {
      const { phases: p } = await api<InvocationRecord>('GET', `/v1/invocations/${it.invocationId}`);
      assert.ok(p.received !== undefined && p.placed !== undefined, JSON.stringify(p));
      pickup.push(p.placed - p.received);
    }
    pickup.sort((a, b) => a - b);
    const median = pickup[Math.floor(pickup.length / 2)]!;
    t.diagnostic(`median received → placed ${median.toFixed(1)} ms, bound ${bound.toFixed(0)} ms`);
    assert.ok(
      median < bound,
      `median received → placed ${median.toFixed(1)} ms over ${bound.toFixed(0)} ms (load ${loadavg()[0]}; all: ${pickup.map((x) => x.toFixed(1)).join(' ')})`,
    );
    const out = await fetch(`${up.url}/v1/jobs/${job.id}/items/${ITEMS - 1}/output`);
    assert.equal(await out.text(), `${ITEMS - 1}\n`);
  });
});
