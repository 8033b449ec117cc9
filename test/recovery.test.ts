/** A server killed with SIGKILL mid-invocation: the next start cleans up and records what happened. */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { CLI, spawnAgniUp, stopAgniUp } from './helpers/agni-up.js';
import { runcIds } from './helpers/runc-list.js';
import { fnDir } from './helpers/tarball.js';
import { tempDir } from './helpers/tmp.js';

const run = promisify(execFile);
test('after SIGKILL the next start removes stray sandboxes and marks the invocation interrupted', async (t) => {
  const home = tempDir('agni-recovery-');
  const first = await spawnAgniUp(home);
  // Failed before the kill below: stopped all the same, or the test file would never end.
  t.after(() => stopAgniUp(first.p));
  const env = { ...process.env, AGNI_URL: first.url };
  await run(
    'node',
    [CLI, 'deploy', fnDir({ 'agni.yaml': 'name: long\nruntime: host\ncommand: "echo go; sleep 60"\n' })],
    { env },
  );
  const inflight = run('node', [CLI, 'invoke', 'long', '--data', ''], { env }).catch((e) => e);
  const runcRoot = join(home, 'run', 'runc');
  const sandboxes = async () => runcIds(runcRoot).join('\n');
  // The call's sandbox starts within a second or so, later on a busy machine.
  for (let i = 0; i < 100 && (await sandboxes()) === ''; i++) await new Promise((r) => setTimeout(r, 100));
  assert.notEqual(await sandboxes(), '', 'a sandbox is running');
  first.p.kill('SIGKILL');
  await inflight;

  const second = await spawnAgniUp(home);
  try {
    assert.equal(await sandboxes(), '', 'the stray sandbox is gone');
    assert.deepEqual(readdirSync(join(home, 'sandboxes')), []);
    // The log line and the start banner go out on different streams: it may arrive a moment later.
    for (let i = 0; i < 50 && !/cleaned up after an unclean stop/.test(second.out()); i++)
      await new Promise((r) => setTimeout(r, 100));
    assert.match(second.out(), /cleaned up after an unclean stop/);
    const logs = JSON.parse(
      (await run('node', [CLI, 'logs', 'long', '--json'], { env: { ...env, AGNI_URL: second.url } })).stdout,
    ) as {
      status: string;
      error: string;
    }[];
    assert.equal(logs[0]!.status, 'error');
    assert.match(logs[0]!.error, /interrupted/);
  } finally {
    await stopAgniUp(second.p);
  }
});

test('agni up --backend process says loudly that there is no isolation, and still runs functions', async () => {
  const home = tempDir('agni-process-');
  const s = await spawnAgniUp(home, ['--backend', 'process']);
  try {
    assert.match(s.out(), /NO ISOLATION/);
    const env = { ...process.env, AGNI_URL: s.url };
    await run('node', [CLI, 'deploy', 'examples/wordcount'], { env });
    const r = await run('node', [CLI, 'invoke', 'wordcount', '--data', 'one two'], { env });
    assert.equal(JSON.parse(r.stdout).words, 2);
  } finally {
    await stopAgniUp(s.p);
  }
});

test('agni up refuses a bad flag with a clear error', async () => {
  await assert.rejects(
    run('node', [CLI, 'up', '--backend', 'kvm', '--port', '0']),
    (e: { code: number; stderr: string }) => {
      assert.equal(e.code, 64);
      assert.match(e.stderr, /--backend: expected auto, runc or process/);
      return true;
    },
  );
});
