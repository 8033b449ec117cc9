import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../test/helpers/tmp.js';
import type { SandboxSpec } from './backend.js';
import { GATE_PATH } from './runc-prepared.js';
import {
  removeLeftoverSecretFiles,
  removeSecretFiles,
  secretEnvScript,
  withSecrets,
  writeSecretFiles,
} from './secret-files.js';

const spec = (secrets: SandboxSpec['secrets']): SandboxSpec => ({
  id: 'f-v1',
  rootfs: '/r',
  hostRuntime: true,
  codeDir: '/c',
  args: ['python3', 'main.py'],
  env: {},
  cwd: '/fn',
  limits: { memoryBytes: 1, cpus: 1, pids: 1, timeoutMs: 1 },
  network: 'none',
  secrets,
});

test('withSecrets: files only → a bind at /run/secrets, args untouched; env form → the wrapper, busybox once', () => {
  const files = withSecrets(spec([{ name: 'a', value: Buffer.from('x') }]), '/dev/shm/d');
  assert.deepEqual(files.args, ['python3', 'main.py']);
  assert.deepEqual(files.extraMounts, [{ source: '/dev/shm/d', destination: '/run/secrets' }]);
  const env = withSecrets(spec([{ name: 'a', value: Buffer.from('x'), env: 'PW' }]), '/dev/shm/d');
  assert.equal(env.args[0], GATE_PATH);
  assert.deepEqual(env.args.slice(-2), ['python3', 'main.py']);
  assert.equal(env.extraMounts?.filter((m) => m.destination === GATE_PATH).length, 1);
  const script = secretEnvScript([{ name: 'a', value: Buffer.from('never-in-the-script'), env: 'PW' }]);
  assert.match(script, /PW=\$\(\/\.agni\/busybox cat \/run\/secrets\/a\)/);
  assert.ok(
    !script.includes('never-in-the-script'),
    'the value is read in the sandbox, not written in its config',
  );
});

test('writeSecretFiles: 0400 files and a 0500 dir owned by the user; removed, and leftovers swept', async () => {
  if (process.getuid?.() !== 0) return; // chown needs root (the runc backend runs as root)
  const root = join(tempDir('agni-sf-'), 'secrets');
  const dir = await writeSecretFiles(root, 'sb-1', [{ name: 'pw', value: Buffer.from('v\n') }], {
    uid: 65534,
    gid: 65534,
  });
  const f = statSync(join(dir, 'pw'));
  assert.equal(f.mode & 0o777, 0o400);
  assert.equal(f.uid, 65534);
  assert.equal(statSync(dir).mode & 0o777, 0o500);
  assert.equal(statSync(root).mode & 0o777, 0o700);
  assert.equal(readFileSync(join(dir, 'pw'), 'utf8'), 'v\n');
  await writeSecretFiles(root, 'sb-2', [{ name: 'pw', value: Buffer.from('w') }], { uid: 65534, gid: 65534 });
  await removeSecretFiles(root, 'sb-1');
  assert.deepEqual(readdirSync(root), ['sb-2']);
  assert.equal(await removeLeftoverSecretFiles(root, (id) => id === 'sb-2'), 0);
  assert.equal(await removeLeftoverSecretFiles(root, () => false), 1);
  assert.deepEqual(readdirSync(root), []);
});
