/**
 * SIGTERM to a real `agni up` with a pipe client connected and idle (issue 10): the server stops
 * within its grace period, cuts the connection, says what it cut, and leaves nothing behind.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import http from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { mountsUnder } from '../src/image/oci/overlay.js';
import { existingCgroupLeaves } from '../src/sandbox/cgroups.js';
import { spawnAgniUp } from './helpers/agni-up.js';
import { deployFiles } from './helpers/deploy.js';
import { runcIds } from './helpers/runc-list.js';

const home = mkdtempSync(join(tmpdir(), 'agni-grace-'));
after(() => rmSync(home, { recursive: true, force: true }));

function containers(): string[] {
  return runcIds(join(home, 'run', 'runc'));
}

test('SIGTERM with an idle pipe client: stops within the grace period and says what it cut', async () => {
  const up = await spawnAgniUp(home, ['--grace', '1s']);
  await deployFiles(up.url, {
    'agni.yaml': 'name: cat\nruntime: host\ncommand: ["cat"]\nlimits:\n  timeout: 120s\n',
  });
  const req = http.request(`${up.url}/v1/pipe?f=cat`, { method: 'POST' }, (res) => res.resume());
  const clientSaw = new Promise<string>((r) => {
    req.once('error', (e) => r(e.message));
    req.once('close', () => r('closed'));
  });
  req.flushHeaders(); // connected, and not a byte of input
  const until = Date.now() + 10_000;
  let ids: string[] = [];
  while (ids.length === 0 && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 50));
    ids = containers().filter((c) => c.startsWith('inv-'));
  }
  assert.equal(ids.length, 1, 'the pipe stage runs');

  const exited = new Promise<number | null>((r) => up.p.once('exit', (code) => r(code)));
  const t0 = Date.now();
  up.p.kill('SIGTERM');
  // The pipe's own idle bound (30 s) or the function's timeout (120 s) would end it much later.
  const code = await Promise.race([exited, new Promise<'hung'>((r) => setTimeout(() => r('hung'), 15_000))]);
  if (code === 'hung') up.p.kill('SIGKILL');
  assert.notEqual(code, 'hung', `agni up did not exit within 15 s of SIGTERM:\n${up.out()}`);
  console.log('# exited after', Date.now() - t0, 'ms; client:', await clientSaw);
  assert.equal(code, 0, up.out());
  assert.ok(Date.now() - t0 < 15_000);
  assert.match(up.out(), /agni up: grace period of 1s over: cut 1 open request\(s\): POST \/v1\/pipe\?f=cat/);
  assert.match(up.out(), new RegExp(`invocations ${ids[0]}`));
  await clientSaw;
  assert.deepEqual(containers(), []);
  assert.deepEqual(readdirSync(join(home, 'sandboxes')), []);
  assert.deepEqual(existingCgroupLeaves(ids[0]!), []);
  assert.deepEqual(mountsUnder(home), []);
});
