/**
 * `output_to` across an unclean stop: `agni up` is SIGKILLed while a job's inputs stream their
 * outputs onto a volume. After the restart every output is in place, whole, and no temporary file
 * of the killed attempts is left on the volume. One of the interrupted invocations is made to look
 * as an older server left it (submitted without `output_to`, so its output goes to the async store):
 * the job copies that one onto the volume at its settle, removing the temporary file a killed copy
 * of it left.
 */
import assert from 'node:assert/strict';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import type { Job, JobItem } from '../src/triggers/jobs-types.js';
import { spawnAgniUp, stopAgniUp } from './helpers/agni-up.js';
import { deployFiles } from './helpers/deploy.js';
import { tempDir } from './helpers/tmp.js';

async function call<T>(url: string, method: string, path: string, body?: unknown): Promise<T> {
  const r = await fetch(`${url}${path}`, {
    method,
    ...(body === undefined
      ? {}
      : { headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) }),
  });
  const text = await r.text();
  assert.ok(r.ok, `${method} ${path}: ${r.status} ${text}`);
  return JSON.parse(text) as T;
}

test('after SIGKILL mid-job, outputs onto a volume are whole, no temporary file is left, and an older submission is copied', async () => {
  const root = tempDir('agni-outto-kill-');
  const home = join(root, 'home');
  const data = join(root, 'data');
  const scratch = join(root, 'scratch');
  mkdirSync(join(data, 'in'), { recursive: true });
  mkdirSync(scratch);
  for (const n of ['a', 'b', 'c']) writeFileSync(join(data, 'in', `${n}.txt`), `${n}\n`.repeat(3));
  const flags = ['--slots', '2', '--volume', `data=${data}`, '--volume', `scratch=${scratch}:rw`];
  const first = await spawnAgniUp(home, flags);
  await deployFiles(first.url, {
    'agni.yaml': [
      'name: slowcat',
      'runtime: host',
      // Writes half its output, then waits: the kill finds the temporary files part-written.
      `command: 'head -n 1 "$AGNI_INPUT"; sleep 2; tail -n +2 "$AGNI_INPUT"'`,
      'volumes: [{name: data, path: /data}, {name: scratch, path: /mnt, mode: rw}]',
      '',
    ].join('\n'),
  });
  const job = await call<Job>(first.url, 'POST', '/v1/jobs', {
    function: 'slowcat',
    concurrency: 2,
    output_to: 'scratch:/run',
  });
  await call(first.url, 'POST', `/v1/jobs/${job.id}/refs`, { ref: 'data:/in/*.txt' });
  await call(first.url, 'POST', `/v1/jobs/${job.id}/start`, {});
  const outDir = join(scratch, 'run', 'data', 'in');
  const temps = () => {
    try {
      return readdirSync(outDir).filter((n) => n.endsWith('.tmp'));
    } catch {
      return [];
    }
  };
  const deadline = Date.now() + 15_000;
  while (temps().length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  assert.equal(temps().length, 2, 'two inputs were writing their outputs at the kill');
  // The items' rows say `running` a moment after their attempts started; the function sleeps on.
  await new Promise((r) => setTimeout(r, 300));
  first.p.kill('SIGKILL');
  await new Promise((r) => first.p.once('exit', r));

  // The first running input is made an older server's submission: no output_to. Its temporary
  // file stays, standing for one the copy of its output (at its settle) left when killed: the
  // copy's next try removes it.
  const db = new Database(join(home, 'agni.db'));
  const running = db
    .prepare(
      "select idx, invocation_id as id from job_items where job_id = ? and status = 'running' order by idx",
    )
    .all(job.id) as { idx: number; id: string }[];
  assert.equal(running.length, 2);
  const older = running[0]!;
  db.prepare('update async_invocations set output_to = null where id = ?').run(older.id);
  db.close();
  const olderTemp = temps().find((n) => n.includes(`.${older.id}.`));
  assert.ok(olderTemp, `its temporary file carries its invocation's id: ${temps().join(', ')}`);

  const second = await spawnAgniUp(home, flags);
  try {
    let done: Job | undefined;
    for (let i = 0; i < 300 && !['succeeded', 'failed'].includes(done?.status ?? ''); i++) {
      await new Promise((r) => setTimeout(r, 100));
      done = await call<Job>(second.url, 'GET', `/v1/jobs/${job.id}`);
    }
    const items = await call<{ items: JobItem[] }>(second.url, 'GET', `/v1/jobs/${job.id}/items`);
    assert.equal(done?.status, 'succeeded', JSON.stringify(items.items.map((i) => [i.status, i.error])));
    assert.deepEqual(
      readdirSync(outDir).sort(),
      ['a.txt.out', 'b.txt.out', 'c.txt.out'],
      'no temporary file',
    );
    for (const n of ['a', 'b', 'c'])
      assert.equal(readFileSync(join(outDir, `${n}.txt.out`), 'utf8'), `${n}\n`.repeat(3));
    const after = new Database(join(home, 'agni.db'), { readonly: true });
    const kept = after.prepare('select count(*) as n from async_outputs where id = ?').get(older.id) as {
      n: number;
    };
    after.close();
    assert.equal(
      kept.n,
      1,
      'the older submission ran without output_to: its output went to the store, then was copied',
    );
  } finally {
    await stopAgniUp(second.p);
  }
});
