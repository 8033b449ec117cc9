import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { SandboxResult, SandboxSpec } from '../src/sandbox/backend.js';
import { ProcessBackend } from '../src/sandbox/process-backend.js';
import { createBackend } from '../src/sandbox/select.js';

const codeDir = mkdtempSync(join(tmpdir(), 'agni-proc-test-'));
writeFileSync(join(codeDir, 'hello.txt'), 'hi\n');
const backend = new ProcessBackend();
let seq = 0;

after(async () => {
  await backend.shutdown();
  rmSync(codeDir, { recursive: true, force: true });
});

/** Dead or a zombie awaiting its (re)parent's reap: either way it no longer runs. */
function isAlive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return false;
  }
}

function spec(args: string[], timeoutMs = 5000, env: Record<string, string> = {}): SandboxSpec {
  return {
    id: `p${seq++}`,
    rootfs: '/',
    hostRuntime: true,
    codeDir,
    args,
    env,
    cwd: '/fn',
    limits: { memoryBytes: 32 << 20, cpus: 1, pids: 32, timeoutMs },
    network: 'none',
  };
}

async function run(
  s: SandboxSpec,
  stdin = '',
): Promise<{ result: SandboxResult; stdout: string; ms: number }> {
  const out: Buffer[] = [];
  const t0 = performance.now();
  const result = await backend.run(s, {
    stdin: Buffer.from(stdin),
    onStdout: (c) => out.push(c),
    onStderr: () => {},
  });
  return { result, stdout: Buffer.concat(out).toString(), ms: performance.now() - t0 };
}

test('echo stdin, env and cwd = code dir', async () => {
  const r = await run(
    spec(['sh', '-c', 'cat; echo "$AGNI_X"; cat hello.txt'], 5000, { AGNI_X: 'y' }),
    'in\n',
  );
  assert.deepEqual(r.result, { outcome: 'ok', exitCode: 0, signal: null });
  assert.equal(r.stdout, 'in\ny\nhi\n');
});

test('non-zero exit is failed', async () => {
  const r = await run(spec(['sh', '-c', 'exit 7']));
  assert.deepEqual(r.result, { outcome: 'failed', exitCode: 7, signal: null });
});

test('missing command is failed 127', async () => {
  const r = await run(spec(['/no/such/bin']));
  assert.equal(r.result.outcome, 'failed');
  assert.equal(r.result.exitCode, 127);
});

test('timeout kills the whole process group', async () => {
  // The grandchild would outlive a plain kill of `sh`; it must die with the group.
  const r = await run(spec(['sh', '-c', 'sleep 30 & echo $!; sleep 30'], 500));
  assert.equal(r.result.outcome, 'timeout');
  assert.ok(r.ms < 3000, `took ${r.ms} ms`);
  const grandchild = Number(r.stdout.trim());
  assert.ok(grandchild > 0);
  await new Promise((res) => setTimeout(res, 100));
  assert.ok(!isAlive(grandchild), 'background child survived the timeout');
});

test('createBackend honours explicit process and auto', async () => {
  const p = await createBackend('process', codeDir);
  assert.equal(p.name, 'process');
  assert.equal(p.isolated, false);
  const auto = await createBackend('auto', codeDir);
  assert.equal(auto.name, process.getuid?.() === 0 ? 'runc' : 'process');
  await auto.shutdown();
});

test('volumes without a mount namespace: their paths in argv and env (AGNI_INPUT) point at the host dirs', async () => {
  const vol = mkdtempSync(join(tmpdir(), 'agni-proc-vol-'));
  try {
    writeFileSync(join(vol, 'in.smi'), 'CCO\nCCN\n');
    const s: SandboxSpec = {
      ...spec(['sh', '-c', 'wc -l < "$AGNI_INPUT"; cat /data/in.smi | head -1'], 5000, {
        AGNI_INPUT: '/data/in.smi',
      }),
      volumes: [{ source: vol, destination: '/data', readOnly: true }],
    };
    const r = await run(s);
    assert.equal(r.result.outcome, 'ok');
    assert.equal(r.stdout, '2\nCCO\n');
  } finally {
    rmSync(vol, { recursive: true, force: true });
  }
});
