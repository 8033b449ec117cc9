import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  existsSync,
  lstatSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { GZ, TAR, writeLayer } from '../../../test/helpers/layer-tar.js';
import { AgniError } from '../../core/errors.js';
import { mountOverlayRoot, mountsUnder } from './overlay.js';
import { ensureLayer, layerCompression, layerDir, unpackLayer } from './unpack.js';

const work = mkdtempSync(join(tmpdir(), 'agni-unpack-'));
after(() => {
  for (const mp of mountsUnder(work)) execFileSync('umount', [mp]);
  rmSync(work, { recursive: true, force: true });
});
let n = 0;
const fresh = () => join(work, `case-${++n}`);

async function refused(entries: Parameters<typeof writeLayer>[1], re: RegExp, outside?: string) {
  const blob = writeLayer(`${fresh()}.tar.gz`, entries);
  const dest = fresh();
  await assert.rejects(
    unpackLayer(blob, GZ, dest),
    (e: unknown) => e instanceof AgniError && e.code === 'layer_invalid' && re.test(e.message),
  );
  assert.equal(existsSync(dest), false, 'no layer dir after a refusal');
  assert.equal(existsSync(`${dest}.tmp`), false, 'no tmp dir after a refusal');
  if (outside) assert.equal(existsSync(outside), false, `${outside} must not be written`);
}

test('media types: tar and gzip of OCI and Docker; zstd refused clearly', () => {
  assert.equal(layerCompression(TAR), 'none');
  assert.equal(layerCompression(GZ), 'gzip');
  assert.equal(layerCompression('application/vnd.docker.image.rootfs.diff.tar.gzip'), 'gzip');
  assert.throws(() => layerCompression('application/vnd.oci.image.layer.v1.tar+zstd'), /zstd.*not supported/);
  assert.throws(() => layerCompression('text/plain'), /unsupported layer media type "text\/plain"/);
  assert.throws(() => layerDir('/h', 'sha256:XYZ'), /not sha256/);
  assert.equal(layerDir('/h', `sha256:${'a'.repeat(64)}`), `/h/content/layers/${'a'.repeat(64)}`);
});

test('unpack: files, links and modes; setuid/setgid cleared, owner root, devices skipped', async () => {
  const blob = writeLayer(
    `${fresh()}.tar`,
    [
      { path: './bin/', type: 'Directory' },
      { path: './bin/tool', mode: 0o6755, data: 'x' },
      { path: './bin/alias', type: 'SymbolicLink', linkpath: 'tool' },
      { path: './bin/hard', type: 'Link', linkpath: './bin/tool' },
      { path: './etc/abs', type: 'SymbolicLink', linkpath: '/etc/passwd' },
      { path: './dev/null', type: 'CharacterDevice' },
      { path: './dev/sda', type: 'BlockDevice' },
      { path: './run/fifo', type: 'FIFO' },
      { path: './tmp/', type: 'Directory', mode: 0o1777 },
    ],
    false,
  );
  const dest = fresh();
  const r = await unpackLayer(blob, TAR, dest);
  assert.deepEqual(
    { ...r, dir: undefined },
    { dir: undefined, entries: 6, skippedDevices: 3, whiteouts: 0, opaqueDirs: 0 },
  );
  const st = statSync(join(dest, 'bin/tool'));
  assert.equal(st.mode & 0o7777, 0o755, 'setuid and setgid cleared');
  assert.equal(st.uid, 0);
  assert.equal(st.gid, 0);
  assert.equal(statSync(join(dest, 'tmp')).mode & 0o7777, 0o1777, 'sticky bit kept');
  assert.equal(statSync(join(dest, 'bin/hard')).ino, st.ino);
  assert.equal(readFileSync(join(dest, 'bin/alias'), 'utf8'), 'x');
  assert.equal(
    lstatSync(join(dest, 'etc/abs')).isSymbolicLink(),
    true,
    'an absolute symlink is kept (it resolves in the sandbox)',
  );
  assert.equal(existsSync(join(dest, 'dev/null')), false);
  assert.equal(existsSync(join(dest, 'run/fifo')), false);
  assert.equal(existsSync(`${dest}.tmp`), false);
});

test('refused: ../ component, absolute path, named in the error', async () => {
  await refused(
    [
      { path: 'ok', data: 'y' },
      { path: '../evil', data: 'x' },
    ],
    /entry "\.\.\/evil" has a "\.\." component/,
    join(work, 'evil'),
  );
  await refused([{ path: 'a/../../evil2', data: 'x' }], /entry "a\/\.\.\/\.\.\/evil2"/, join(work, 'evil2'));
  const abs = join(work, 'abs-evil');
  await refused([{ path: abs, data: 'x' }], /is an absolute path/, abs);
});

test('refused: a write through a hard link to a symlink (link(2) does not follow: it is the symlink again)', async () => {
  const outside = mkdtempSync(join(work, 'outside-'));
  await refused(
    [
      { path: 'sym', type: 'SymbolicLink', linkpath: outside },
      { path: 'hard', type: 'Link', linkpath: 'sym' },
      { path: 'hard/pwned', data: 'x' },
    ],
    /entry "hard\/pwned" would be written through symlink "hard"/,
    join(outside, 'pwned'),
  );
});

test('refused: a write through a symlink (pointing outside, or anywhere)', async () => {
  const outside = join(work, 'outside-dir');
  await refused(
    [
      { path: 'evil', type: 'SymbolicLink', linkpath: outside },
      { path: 'evil/pwned', data: 'x' },
    ],
    /entry "evil\/pwned" would be written through symlink "evil" .* pointing outside the layer root/,
    join(outside, 'pwned'),
  );
  await refused(
    [
      { path: 'up', type: 'SymbolicLink', linkpath: '../../..' },
      { path: 'up/tmp/pwned2', data: 'x' },
    ],
    /through symlink "up"/,
    '/tmp/pwned2',
  );
  await refused(
    [
      { path: 'usr/lib/', type: 'Directory' },
      { path: 'lib', type: 'SymbolicLink', linkpath: 'usr/lib' },
      { path: 'lib/x', data: 'x' },
    ],
    /entry "lib\/x" would be written through symlink "lib"/,
  );
});

test('a later entry replacing a symlink replaces the link, never writes through it', async () => {
  const outsideFile = join(work, 'victim-file');
  const outsideDir = join(work, 'victim-dir');
  writeFileSync(outsideFile, 'original');
  execFileSync('mkdir', ['-p', outsideDir]);
  const blob = writeLayer(`${fresh()}.tar.gz`, [
    { path: 'f', type: 'SymbolicLink', linkpath: outsideFile },
    { path: 'f', data: 'replaced' },
    { path: 'd', type: 'SymbolicLink', linkpath: outsideDir },
    { path: 'd/', type: 'Directory' },
    { path: 'd/x', data: 'inside' },
  ]);
  const dest = fresh();
  await unpackLayer(blob, GZ, dest);
  assert.equal(readFileSync(outsideFile, 'utf8'), 'original');
  assert.deepEqual(readdirSync(outsideDir), []);
  assert.equal(lstatSync(join(dest, 'f')).isFile(), true);
  assert.equal(readFileSync(join(dest, 'f'), 'utf8'), 'replaced');
  assert.equal(lstatSync(join(dest, 'd')).isDirectory(), true);
  assert.equal(readFileSync(join(dest, 'd/x'), 'utf8'), 'inside');
});

test('a dir turned into a symlink afterwards: nothing outside is touched', async () => {
  const victim = join(work, 'victim-mode');
  writeFileSync(victim, 'v');
  execFileSync('chmod', ['600', victim]);
  const blob = writeLayer(`${fresh()}.tar.gz`, [
    { path: 'a/', type: 'Directory' },
    { path: 'a/victim-mode', data: 'x', mode: 0o777 },
    { path: 'a', type: 'SymbolicLink', linkpath: work },
  ]);
  await unpackLayer(blob, GZ, fresh()).catch(() => {});
  assert.equal(statSync(victim).mode & 0o777, 0o600);
  assert.equal(readFileSync(victim, 'utf8'), 'v');
});

test('refused: hard links pointing outside the root', async () => {
  await refused(
    [{ path: 'h', type: 'Link', linkpath: '/etc/passwd' }],
    /entry "h" is a hard link to "\/etc\/passwd" outside/,
  );
  await refused([{ path: 'h', type: 'Link', linkpath: '../../etc/passwd' }], /entry "h" is a hard link to/);
  await refused(
    [
      { path: 'e', type: 'SymbolicLink', linkpath: '/etc' },
      { path: 'h', type: 'Link', linkpath: 'e/passwd' },
    ],
    /entry "h" is a hard link whose target would be written through symlink "e"/,
  );
});

test('truncated gzip: an error and no layer dir', async () => {
  const blob = writeLayer(`${fresh()}.tar.gz`, [
    { path: 'big', data: 'z'.repeat(200_000) },
    { path: 'b', data: 'q' },
  ]);
  const full = readFileSync(blob);
  writeFileSync(blob, full.subarray(0, Math.floor(full.length / 2)));
  const dest = fresh();
  await assert.rejects(
    unpackLayer(blob, GZ, dest),
    (e: unknown) => e instanceof AgniError && e.code === 'layer_invalid',
  );
  assert.equal(existsSync(dest), false);
  assert.equal(existsSync(`${dest}.tmp`), false);
});

test('whiteouts and opaque dirs: the merged overlay view hides what the lower had', async () => {
  const lowerBlob = writeLayer(`${fresh()}.tar.gz`, [
    { path: 'keep', data: 'k' },
    { path: 'gone', data: 'g' },
    { path: 'dir/', type: 'Directory' },
    { path: 'dir/old1', data: '1' },
    { path: 'dir/sub/old2', data: '2' },
    { path: 'other/x', data: 'x' },
  ]);
  const upperBlob = writeLayer(`${fresh()}.tar.gz`, [
    { path: '.wh.gone', data: '' },
    { path: 'dir/', type: 'Directory' },
    { path: 'dir/.wh..wh..opq', data: '' },
    { path: 'dir/new', data: 'n' },
    { path: 'other/.wh.x', data: '' },
    { path: 'other/.wh.absent', data: '' },
    { path: 'same', data: 's' },
    { path: '.wh.same', data: '' },
    { path: '.wh..wh.plnk', data: '' },
  ]);
  const layers = fresh();
  const lower = await unpackLayer(lowerBlob, GZ, join(layers, 'l1').replace(/$/, ''));
  const upper = await unpackLayer(upperBlob, GZ, join(layers, 'l2'));
  assert.equal(upper.whiteouts, 4);
  assert.equal(upper.opaqueDirs, 1);
  const wh = lstatSync(join(upper.dir, 'gone'));
  assert.equal(wh.isCharacterDevice(), true);
  assert.equal(wh.rdev, 0);
  assert.equal(existsSync(join(upper.dir, '.wh.gone')), false);
  assert.equal(
    readFileSync(join(upper.dir, 'same'), 'utf8'),
    's',
    "a whiteout does not hide its own layer's file",
  );
  const xattr = execFileSync(
    'getfattr',
    ['--only-values', '-n', 'trusted.overlay.opaque', join(upper.dir, 'dir')],
    {
      encoding: 'utf8',
    },
  );
  assert.equal(xattr, 'y');

  const sandbox = fresh();
  const root = await mountOverlayRoot([upper.dir, lower.dir], sandbox);
  try {
    const m = root.merged;
    assert.deepEqual(readdirSync(m).sort(), ['dir', 'keep', 'other', 'same']);
    assert.deepEqual(readdirSync(join(m, 'dir')), ['new'], 'the opaque dir hides old1 and sub/');
    assert.deepEqual(readdirSync(join(m, 'other')), []);
    writeFileSync(join(m, 'keep'), 'changed');
    assert.equal(readFileSync(join(lower.dir, 'keep'), 'utf8'), 'k', 'writes land in the upper dir only');
    assert.equal(mountsUnder(sandbox).length, 1);
  } finally {
    await root.unmount();
  }
  assert.deepEqual(mountsUnder(sandbox), []);
  assert.equal(existsSync(root.dir), false, 'upper and work dirs removed');
  await root.unmount(); // twice is fine
});

test('ensureLayer: concurrent callers share one unpack; the dir is reused', async () => {
  const home = fresh();
  const blob = writeLayer(`${fresh()}.tar.gz`, [{ path: 'f', data: 'once' }]);
  const digest = `sha256:${'b'.repeat(64)}`;
  const [a, b] = await Promise.all([
    ensureLayer(home, digest, blob, GZ),
    ensureLayer(home, digest, blob, GZ),
  ]);
  assert.equal(a, b);
  assert.equal(readFileSync(join(a, 'f'), 'utf8'), 'once');
  rmSync(blob);
  assert.equal(await ensureLayer(home, digest, blob, GZ), a, 'an unpacked layer needs its blob no more');
  assert.deepEqual(readdirSync(join(home, 'content', 'layers')), ['b'.repeat(64)]);
});

test('unpack: a layer over --max-unpack or --max-files is refused (413) as it streams; nothing is left', async () => {
  const big = writeLayer(`${fresh()}.tar.gz`, [
    { path: 'a', data: 'x'.repeat(3000) },
    { path: 'b', data: 'x'.repeat(3000) },
  ]);
  const dest = fresh();
  await assert.rejects(
    unpackLayer(big, GZ, dest, { maxBytes: 4000, maxFiles: 100 }),
    (e: unknown) =>
      e instanceof AgniError &&
      e.code === 'payload_too_large' &&
      /image layer sha256:.* unpacks to more than 3\.9 KiB.*--max-unpack/.test(e.message) &&
      !e.message.includes(work),
  );
  assert.equal(existsSync(dest), false);
  assert.equal(existsSync(`${dest}.tmp`), false);
  const many = writeLayer(
    `${fresh()}.tar.gz`,
    Array.from({ length: 20 }, (_, k) => ({ path: `f${k}`, data: 'x' })),
  );
  const dest2 = fresh();
  await assert.rejects(
    unpackLayer(many, GZ, dest2, { maxBytes: 1e9, maxFiles: 10 }),
    (e: unknown) =>
      e instanceof AgniError &&
      e.code === 'payload_too_large' &&
      /more than 10 files.*--max-files/.test(e.message),
  );
  assert.equal(existsSync(`${dest2}.tmp`), false);
  // Within the limits the same layer unpacks.
  assert.equal((await unpackLayer(many, GZ, fresh(), { maxBytes: 1e9, maxFiles: 20 })).entries, 20);
});
