import assert from 'node:assert/strict';
import { test } from 'node:test';
import { mapFnPaths } from './process-backend.js';

test('/fn paths in argv point at the function directory', () => {
  assert.equal(mapFnPaths('/fn/main.py', '/h/v1'), '/h/v1/main.py');
  assert.equal(mapFnPaths('/fn', '/h/v1'), '/h/v1');
  assert.equal(mapFnPaths('cat /fn/a; ls "/fn/b" /fn', '/h/v1'), 'cat /h/v1/a; ls "/h/v1/b" /h/v1');
  assert.equal(mapFnPaths('--input=/fn/x', '/h/v1'), '--input=/h/v1/x');
});

test('other paths that merely contain fn are left alone', () => {
  assert.equal(mapFnPaths('/usr/fn/x', '/h'), '/usr/fn/x');
  assert.equal(mapFnPaths('/fnord', '/h'), '/fnord');
  assert.equal(mapFnPaths('echo fn', '/h'), 'echo fn');
});

test('network: egress is refused, naming it, before anything runs (a plain process is on the host network)', async () => {
  const { ProcessBackend } = await import('./process-backend.js');
  const { isAgniError } = await import('../core/errors.js');
  const b = new ProcessBackend();
  const spec = {
    id: 'p-egress',
    rootfs: '',
    hostRuntime: true,
    codeDir: '/tmp',
    args: ['/bin/sh', '-c', 'touch /tmp/agni-process-egress-ran'],
    env: {},
    cwd: '/tmp',
    limits: { memoryBytes: 1 << 26, cpus: 1, pids: 16, timeoutMs: 5000 },
    network: 'egress' as const,
    allow: [],
  };
  const io = { stdin: Buffer.alloc(0), onStdout: () => {}, onStderr: () => {} };
  for (const attempt of [() => b.run(spec, io), () => b.startWorker(spec)])
    await assert.rejects(
      attempt,
      (e: unknown) => isAgniError(e) && e.code === 'backend_unavailable' && /network: egress/.test(e.message),
    );
  const { existsSync } = await import('node:fs');
  assert.equal(existsSync('/tmp/agni-process-egress-ran'), false);
  await b.shutdown();
});
