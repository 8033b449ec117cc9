/**
 * Sandboxes made and failed, counted around a real runc backend: a run that works, a run runc
 * cannot create (its root filesystem is missing) and a prepared sandbox.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { PromMetrics } from '../src/app/prom-metrics.js';
import { isAgniError } from '../src/core/errors.js';
import type { SandboxSpec } from '../src/sandbox/backend.js';
import { meteredBackend } from '../src/sandbox/metered-backend.js';
import { RuncBackend } from '../src/sandbox/runc-backend.js';
import { makeBusyboxRootfs } from './helpers/busybox-rootfs.js';

const home = mkdtempSync(join(tmpdir(), 'agni-metered-'));
const rootfs = makeBusyboxRootfs(join(home, 'busybox'));
chmodSync(rootfs, 0o777);
const codeDir = join(home, 'code');
mkdirSync(codeDir);
const inner = new RuncBackend({ home });
const metrics = new PromMetrics();
const backend = meteredBackend(inner, 'n1', metrics);
let seq = 0;

const spec = (over: Partial<SandboxSpec> = {}): SandboxSpec => ({
  id: `m${process.pid}-${seq++}`,
  rootfs,
  hostRuntime: false,
  codeDir,
  args: ['/bin/sh', '-c', 'echo hi'],
  env: {},
  cwd: '/fn',
  limits: { memoryBytes: 64 * 1024 * 1024, cpus: 1, pids: 64, timeoutMs: 10_000 },
  network: 'none',
  ...over,
});

after(async () => {
  await inner.shutdown();
  rmSync(home, { recursive: true, force: true });
});

const io = { stdin: Buffer.alloc(0), onStdout: () => {}, onStderr: () => {} };
const count = async (name: string, kind: string) => {
  const m = new RegExp(`^${name}\\{node="n1",kind="${kind}"\\} (\\d+)$`, 'm').exec(
    (await metrics.render()).body,
  );
  return Number(m?.[1] ?? 0);
};

test('a run counts as made; one runc cannot create counts as failed, and still rejects', async () => {
  const status = await inner.available();
  assert.ok(status.ok, `runc backend unavailable: ${status.reason}`);
  assert.equal(backend.name, 'runc');
  assert.equal((await backend.run(spec(), io)).outcome, 'ok');
  assert.equal(await count('agni_sandbox_creations_total', 'run'), 1);
  await assert.rejects(
    backend.run(spec({ rootfs: join(home, 'no-such-rootfs') }), io),
    (e) => isAgniError(e) && e.code === 'sandbox_error',
  );
  assert.equal(await count('agni_sandbox_failures_total', 'run'), 1);
  assert.equal(await count('agni_sandbox_creations_total', 'run'), 1);
  // a function's own failure is no sandbox failure
  assert.equal((await backend.run(spec({ args: ['/bin/sh', '-c', 'exit 3'] }), io)).outcome, 'failed');
  assert.equal(await count('agni_sandbox_failures_total', 'run'), 1);
});

test('a prepared sandbox counts as made, of kind prepared', async () => {
  assert.ok(backend.prepare, 'runc prepares ahead');
  const sb = await backend.prepare!(spec());
  assert.equal(await count('agni_sandbox_creations_total', 'prepared'), 1);
  await sb.destroy();
});
