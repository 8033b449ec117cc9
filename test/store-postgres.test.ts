/**
 * `agni up --store postgres://…`: the whole embedded server on a PostgreSQL database, through the
 * real CLI: deploys, sync and async calls, and a SIGKILL mid-run with nothing accepted lost.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { CLI, spawnAgniUp } from './helpers/agni-up.js';
import { deployFiles } from './helpers/deploy.js';
import { testStoreFor } from './helpers/pg-store.js';
import { tempDir } from './helpers/tmp.js';

async function rows(url: string, q: string): Promise<Record<string, unknown>[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query(q)).rows;
  } finally {
    await c.end();
  }
}

const stopped = (p: { once(e: 'exit', f: () => void): unknown }) =>
  new Promise<void>((r) => p.once('exit', r));

test('agni up --store postgres://: state in PostgreSQL, kept across a SIGKILL, async work resumed', async () => {
  const home = tempDir('agni-pg-up-');
  const store = (await testStoreFor(home, true))!;
  const first = await spawnAgniUp(home, ['--slots', '2', '--store', store]);
  let second: Awaited<ReturnType<typeof spawnAgniUp>> | undefined;
  try {
    await deployFiles(first.url, {
      'agni.yaml': 'name: slow\nruntime: host\ncommand: "read x; sleep 1; echo done $x"\n',
    });
    const sync = await fetch(`${first.url}/v1/functions/slow/invoke`, { method: 'POST', body: 'a\n' });
    assert.equal(sync.status, 200);
    assert.equal((await sync.text()).trim(), 'done a');
    assert.equal(existsSync(join(home, 'agni.db')), false, 'no SQLite file beside it');
    assert.deepEqual(await rows(store, 'select function, version from versions'), [
      { function: 'slow', version: 1 },
    ]);

    const ids: string[] = [];
    for (let i = 1; i <= 4; i++) {
      const r = await fetch(`${first.url}/v1/functions/slow/async`, { method: 'POST', body: `${i}\n` });
      assert.equal(r.status, 202);
      ids.push(((await r.json()) as { id: string }).id);
    }
    // Kill while some run: their leases (owner `embedded`) are in the database.
    const deadline = Date.now() + 10_000;
    let held: Record<string, unknown>[] = [];
    while (held.length === 0 && Date.now() < deadline) {
      held = await rows(store, 'select owner from async_invocations where owner is not null');
      if (held.length === 0) await new Promise((r) => setTimeout(r, 50));
    }
    assert.ok(held.length > 0, 'running attempts hold a lease');
    assert.equal(held[0]!.owner, 'embedded');
    first.p.kill('SIGKILL');
    await stopped(first.p);

    const again = await spawnAgniUp(home, ['--slots', '2', '--store', store]);
    second = again;
    assert.match(again.out(), /queued again/, 'the same owner takes back its own attempts at once');
    for (const [i, id] of ids.entries()) {
      const r = await fetch(`${again.url}/v1/invocations/${id}/result?wait=30`);
      assert.equal(r.status, 200, `${id} finished`);
      assert.equal((await r.text()).trim(), `done ${i + 1}`);
    }
    await deployFiles(again.url, {
      'agni.yaml': 'name: slow\nruntime: host\ncommand: "echo v2"\n',
    });
    const fn = (await (await fetch(`${again.url}/v1/functions/slow`)).json()) as { version: number };
    assert.equal(fn.version, 2, 'numbers continue from the database');
  } finally {
    for (const s of [first, second]) {
      if (s && s.p.exitCode === null && s.p.signalCode === null) {
        s.p.kill('SIGTERM');
        await stopped(s.p);
      }
    }
  }
});

test('agni up --store with an unreachable database fails at start, exit 69, without showing the password', async () => {
  const { spawnSync } = await import('node:child_process');
  const home = tempDir('agni-pg-down-');
  const r = spawnSync(
    process.execPath,
    [CLI, 'up', '--port', '0', '--home', home, '--store', 'postgres://agni:s3cret@127.0.0.1:1/agni'],
    { encoding: 'utf8', timeout: 20_000 },
  );
  assert.equal(r.status, 69, r.stderr);
  assert.match(r.stderr, /PostgreSQL store at postgres:\/\/agni:\*\*\*@127\.0\.0\.1:1\/agni cannot be used/);
  assert.doesNotMatch(r.stderr + r.stdout, /s3cret/);
});
