import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { isAgniError } from '../core/errors.js';
import { VolumeFiles } from './volume-files.js';

const root = mkdtempSync(join(tmpdir(), 'agni-volfiles-'));
const vol = join(root, 'vol');
const outside = join(root, 'outside');
mkdirSync(join(vol, 'shards', 'deep'), { recursive: true });
mkdirSync(outside);
writeFileSync(join(vol, 'shards', 'b.smi'), 'b\n');
writeFileSync(join(vol, 'shards', 'a.smi'), 'a\n');
writeFileSync(join(vol, 'shards', 'deep', 'c.smi'), 'c\n');
writeFileSync(join(outside, 'x.smi'), 'x\n');
// a link inside the volume counts as the file it leads to, once
symlinkSync('a.smi', join(vol, 'shards', 'alias.smi'));
const files = new VolumeFiles([{ name: 'data', hostPath: vol, mode: 'ro' }]);

after(() => rmSync(root, { recursive: true, force: true }));

const refused = (re: RegExp) => (e: unknown) =>
  isAgniError(e) && e.code === 'bad_request' && re.test(e.message);

test('a glob expands to the volume files it matches, sorted, relative, each once', async () => {
  assert.deepEqual(await files.expand('data:/shards/*.smi', 100), [
    { volume: 'data', path: 'shards/a.smi' },
    { volume: 'data', path: 'shards/b.smi' },
  ]);
  assert.deepEqual(
    (await files.expand('data:/**/*.smi', 100)).map((r) => r.path),
    ['shards/a.smi', 'shards/b.smi', 'shards/deep/c.smi'],
  );
});

test('never outside the volume: .., braces, symlinks out, unknown volumes, too many, none', async () => {
  await assert.rejects(files.expand('data:/../outside/*', 100), refused(/`\.\.`/));
  await assert.rejects(files.expand('data:/{..,shards}/*.smi', 100), refused(/`\.\.`/));
  await assert.rejects(files.expand('nope:/x', 100), refused(/no volume "nope".*volumes that exist: data/));
  await assert.rejects(files.expand('data:/shards/*.smi', 1), refused(/more than 1 files/));
  await assert.rejects(files.expand('data:/shards/*.txt', 100), refused(/no file on volume data matches/));
  symlinkSync(join(outside, 'x.smi'), join(vol, 'shards', 'evil.smi'));
  try {
    await assert.rejects(files.expand('data:/shards/*.smi', 100), refused(/evil\.smi, which leads outside/));
  } finally {
    rmSync(join(vol, 'shards', 'evil.smi'));
  }
  symlinkSync(outside, join(vol, 'linked-dir'));
  try {
    await assert.rejects(files.expand('data:/linked-dir/*.smi', 100), refused(/leads outside/));
  } finally {
    rmSync(join(vol, 'linked-dir'));
  }
});
