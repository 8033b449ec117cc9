/** A server killed with SIGKILL mid-invocation: the next start cleans up and records what happened. */
import assert from 'node:assert/strict';
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { fnDir } from './helpers/tarball.js';

const run = promisify(execFile);
const CLI = resolve('dist/src/cli/main.js');

function startServer(
  home: string,
  extra: string[] = [],
): Promise<{ p: ChildProcess; url: string; out: () => string }> {
  const p = spawn(process.execPath, [CLI, 'up', '--port', '0', '--home', home, ...extra], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  p.stdout!.on('data', (d) => {
    out += d;
  });
  p.stderr!.on('data', (d) => {
    out += d;
  });
  return new Promise((res, rej) => {
    const t = setInterval(() => {
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) {
        clearInterval(t);
        res({ p, url: m[1]!, out: () => out });
      }
    }, 20);
    p.once('exit', (code) => {
      clearInterval(t);
      rej(new Error(`agni up exited ${code}: ${out}`));
    });
  });
}

test('after SIGKILL the next start removes stray sandboxes and marks the invocation interrupted', async () => {
  const home = mkdtempSync(join(tmpdir(), 'agni-recovery-'));
  const first = await startServer(home);
  const env = { ...process.env, AGNI_URL: first.url };
  await run(
    'node',
    [CLI, 'deploy', fnDir({ 'agni.yaml': 'name: long\nruntime: host\ncommand: "echo go; sleep 60"\n' })],
    { env },
  );
  const inflight = run('node', [CLI, 'invoke', 'long', '--data', ''], { env }).catch((e) => e);
  await new Promise((r) => setTimeout(r, 800));
  const runcRoot = join(home, 'run', 'runc');
  assert.notEqual(
    (await run('runc', ['--root', runcRoot, 'list', '-q'])).stdout.trim(),
    '',
    'a sandbox is running',
  );
  first.p.kill('SIGKILL');
  await inflight;

  const second = await startServer(home);
  try {
    assert.equal(
      (await run('runc', ['--root', runcRoot, 'list', '-q'])).stdout.trim(),
      '',
      'the stray sandbox is gone',
    );
    assert.deepEqual(readdirSync(join(home, 'sandboxes')), []);
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
    second.p.kill('SIGTERM');
    await new Promise((r) => second.p.once('exit', r));
  }
});

test('agni up --backend process says loudly that there is no isolation, and still runs functions', async () => {
  const home = mkdtempSync(join(tmpdir(), 'agni-process-'));
  const s = await startServer(home, ['--backend', 'process']);
  try {
    assert.match(s.out(), /NO ISOLATION/);
    const env = { ...process.env, AGNI_URL: s.url };
    await run('node', [CLI, 'deploy', 'examples/wordcount'], { env });
    const r = await run('node', [CLI, 'invoke', 'wordcount', '--data', 'one two'], { env });
    assert.equal(JSON.parse(r.stdout).words, 2);
  } finally {
    s.p.kill('SIGTERM');
    await new Promise((r) => s.p.once('exit', r));
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
