/**
 * Streaming uploads (issue 12): `agni map FN files...` starts the job after its first input, so
 * shards run while later ones still upload. A real `agni up` (runc), the real CLI, and a slow
 * uploader: the last input is a named pipe the test writes only once the first item has finished
 * (before, the job started only after every upload, so that item never finished and this hung).
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Job, JobItem } from '../src/triggers/jobs-types.js';
import { type AgniUp, runCli, spawnAgniUp, stopAgniUp } from './helpers/agni-up.js';
import { fnDir } from './helpers/tarball.js';

const root = mkdtempSync(join(tmpdir(), 'agni-mapstream-'));
let up: AgniUp;

async function api<T>(method: string, path: string, body?: unknown): Promise<{ status: number; body: T }> {
  const isBuf = Buffer.isBuffer(body);
  const r = await fetch(`${up.url}${path}`, {
    method,
    ...(body === undefined
      ? {}
      : {
          headers: { 'content-type': isBuf ? 'application/octet-stream' : 'application/json' },
          body: isBuf ? new Uint8Array(body) : JSON.stringify(body),
        }),
  });
  return { status: r.status, body: (await r.json()) as T };
}

async function until<T>(what: string, f: () => Promise<T | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await f();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

describe('agni map: streaming upload (runc)', () => {
  before(async () => {
    up = await spawnAgniUp(join(root, 'home'), ['--backend', 'runc']);
    const deployed = await runCli(up.url, [
      'deploy',
      fnDir({ 'agni.yaml': "name: shout\nruntime: host\ncommand: ['/bin/sh', '-c', 'tr a-z A-Z']\n" }),
    ]);
    assert.equal(deployed.code, 0, deployed.stderr);
  });

  after(async () => {
    await stopAgniUp(up?.p);
    rmSync(root, { recursive: true, force: true });
  });

  test('the first input has finished before the last one is uploaded', async () => {
    const d = mkdtempSync(join(root, 'in-'));
    writeFileSync(join(d, 'a.txt'), 'alpha\n');
    writeFileSync(join(d, 'b.txt'), 'beta\n');
    execFileSync('mkfifo', [join(d, 'c.txt')]);
    const before = (await api<{ jobs: Job[] }>('GET', '/v1/jobs?limit=1000')).body.jobs.map((j) => j.id);
    const run = runCli(up.url, [
      'map',
      'shout',
      join(d, 'a.txt'),
      join(d, 'b.txt'),
      join(d, 'c.txt'),
      '-c',
      '2',
    ]);
    const job = await until('the job', async () => {
      const { jobs } = (await api<{ jobs: Job[] }>('GET', '/v1/jobs?limit=1000')).body;
      return jobs.find((j) => !before.includes(j.id));
    });
    // The slow uploader has not written its input yet: the job runs, open for more.
    const first = await until('input 0 to finish', async () => {
      const { items } = (await api<{ items: JobItem[] }>('GET', `/v1/jobs/${job.id}/items?limit=10`)).body;
      return items.find((i) => i.index === 0 && i.status === 'succeeded');
    });
    assert.equal(first.name, 'a.txt');
    const open = (await api<Job>('GET', `/v1/jobs/${job.id}`)).body;
    assert.equal(open.status, 'running');
    assert.equal(open.inputsOpen, true, 'still taking inputs while the last one uploads');
    assert.ok(open.counts.total < 3, `the last input is not there yet: ${JSON.stringify(open.counts)}`);
    await writeFile(join(d, 'c.txt'), 'gamma\n');
    const r = await run;
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, 'ALPHA\nBETA\nGAMMA\n', 'outputs in input order');
    const done = (await api<Job>('GET', `/v1/jobs/${job.id}`)).body;
    assert.equal(done.status, 'succeeded');
    assert.equal(done.inputsOpen, false);
    assert.equal(done.counts.total, 3);
  });

  test('API: start with more_inputs, items run as they arrive, close finishes the job', async () => {
    const job = (await api<Job>('POST', '/v1/jobs', { function: 'shout', concurrency: 2 })).body;
    const closeEarly = await api<{ error: { code: string } }>('POST', `/v1/jobs/${job.id}/close`);
    assert.equal(closeEarly.status, 409, 'a job that has not started cannot be closed');
    const started = await api<Job>('POST', `/v1/jobs/${job.id}/start`, { more_inputs: true });
    assert.equal(started.status, 200);
    assert.equal(started.body.inputsOpen, true);
    const add = (s: string) => api<{ first: number }>('POST', `/v1/jobs/${job.id}/inputs`, Buffer.from(s));
    assert.equal((await add('one\n')).status, 201);
    await until('input 0 to finish while the job is open', async () => {
      const { items } = (await api<{ items: JobItem[] }>('GET', `/v1/jobs/${job.id}/items`)).body;
      return items.find((i) => i.status === 'succeeded');
    });
    // Nothing pending or running, yet not finished: more inputs may come.
    assert.equal((await api<Job>('GET', `/v1/jobs/${job.id}`)).body.status, 'running');
    assert.equal((await add('two\n')).body.first, 1);
    const closed = await api<Job>('POST', `/v1/jobs/${job.id}/close`);
    assert.equal(closed.status, 200);
    const done = await until('the job to finish', async () => {
      const j = (await api<Job>('GET', `/v1/jobs/${job.id}`)).body;
      return j.status === 'succeeded' || j.status === 'failed' ? j : undefined;
    });
    assert.equal(done.status, 'succeeded');
    assert.equal(done.counts.succeeded, 2);
    const late = await add('three\n');
    assert.equal(late.status, 409, 'a closed job takes no more inputs');
    const out = await fetch(`${up.url}/v1/jobs/${job.id}/items/1/output`);
    assert.equal(await out.text(), 'TWO\n');
  });
});
