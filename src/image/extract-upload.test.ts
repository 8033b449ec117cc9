import assert from 'node:assert/strict';
import {
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readlinkSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, test } from 'node:test';
import { type LayerEntry, layerTar } from '../../test/helpers/layer-tar.js';
import { AgniError } from '../core/errors.js';
import { DEFAULT_LIMITS } from '../core/limits.js';
import { extractUpload } from './extract-upload.js';

const work = mkdtempSync(join(tmpdir(), 'agni-extract-'));
after(() => rmSync(work, { recursive: true, force: true }));
let n = 0;
const fresh = () => {
  const d = join(work, `case-${++n}`);
  mkdirSync(d);
  return d;
};
const opts = { limits: DEFAULT_LIMITS.unpack, what: 'the uploaded function', preserveOwner: false };
const unpack = (entries: LayerEntry[], dir = fresh()) =>
  extractUpload(Readable.from([layerTar(entries)]), dir, opts).then((r) => ({ ...r, dir }));

/** A refusal: a 400 (bad_request) naming the entry, and nothing written at `outside`. */
async function refused(entries: LayerEntry[], re: RegExp, outside: string) {
  await assert.rejects(
    unpack(entries),
    (e: unknown) =>
      e instanceof AgniError &&
      e.code === 'bad_request' &&
      re.test(e.message) &&
      !e.message.includes(`${work}/case-`),
  );
  assert.deepEqual(readdirSync(outside), [], 'nothing written outside the upload');
}

test('absolute and relative symlinks are kept exactly as they are; devices and FIFOs skipped', async () => {
  const r = await unpack([
    { path: 'venv/bin/', type: 'Directory' },
    { path: 'venv/bin/python3', type: 'SymbolicLink', linkpath: '/usr/bin/python3' },
    { path: 'venv/bin/python', type: 'SymbolicLink', linkpath: 'python3' },
    { path: 'etc/alternatives/awk', type: 'SymbolicLink', linkpath: '/usr/bin/mawk' },
    { path: 'up', type: 'SymbolicLink', linkpath: '../../..' },
    { path: 'bin/tool', mode: 0o4755, data: 'x' },
    { path: 'bin/same', type: 'Link', linkpath: 'bin/tool' },
    { path: 'dev/null', type: 'CharacterDevice' },
    { path: 'run/fifo', type: 'FIFO' },
  ]);
  assert.equal(readlinkSync(join(r.dir, 'venv/bin/python3')), '/usr/bin/python3');
  assert.equal(readlinkSync(join(r.dir, 'venv/bin/python')), 'python3');
  assert.equal(readlinkSync(join(r.dir, 'etc/alternatives/awk')), '/usr/bin/mawk');
  assert.equal(readlinkSync(join(r.dir, 'up')), '../../..');
  assert.equal(statSync(join(r.dir, 'bin/same')).ino, statSync(join(r.dir, 'bin/tool')).ino);
  assert.equal(statSync(join(r.dir, 'bin/tool')).mode & 0o7000, 0, 'setuid cleared');
  assert.equal(r.skippedDevices, 2);
  assert.equal(existsSync(join(r.dir, 'dev/null')), false);
});

test('refused with a 400 naming the entry: a write through a symlink, wherever it points', async () => {
  const outside = mkdtempSync(join(work, 'outside-'));
  await refused(
    [
      { path: 'etc', type: 'SymbolicLink', linkpath: outside },
      { path: 'etc/x', data: 'pwned' },
    ],
    /entry "etc\/x" would be written through symlink "etc" .* pointing outside the upload/,
    outside,
  );
  await refused(
    [
      { path: 'a/', type: 'Directory' },
      { path: 'a/in', type: 'SymbolicLink', linkpath: '..' },
      { path: 'a/in/x', data: 'x' },
    ],
    /entry "a\/in\/x" would be written through symlink "a\/in"/,
    outside,
  );
  await refused(
    [
      { path: 'sym', type: 'SymbolicLink', linkpath: outside },
      { path: 'hard', type: 'Link', linkpath: 'sym' },
      { path: 'hard/x', data: 'pwned' },
    ],
    /entry "hard\/x" would be written through symlink "hard"/,
    outside,
  );
  await refused(
    [
      { path: 'sym', type: 'SymbolicLink', linkpath: outside },
      { path: 'sym/deep/x', type: 'Link', linkpath: 'f' },
    ],
    /entry "sym\/deep\/x" would be written through symlink "sym"/,
    outside,
  );
});

test('refused: hard links out of the upload, absolute and `..` entry paths', async () => {
  const outside = mkdtempSync(join(work, 'outside-'));
  await refused(
    [{ path: 'passwd', type: 'Link', linkpath: '/etc/passwd' }],
    /entry "passwd" is a hard link to "\/etc\/passwd" outside the upload/,
    outside,
  );
  await refused(
    [{ path: 'p', type: 'Link', linkpath: '../x' }],
    /entry "p" is a hard link to "\.\.\/x"/,
    outside,
  );
  await refused(
    [
      { path: 'sym', type: 'SymbolicLink', linkpath: outside },
      { path: 'h', type: 'Link', linkpath: 'sym/target' },
    ],
    /entry "h" is a hard link whose target would be written through symlink "sym"/,
    outside,
  );
  await refused([{ path: join(outside, 'x'), data: 'x' }], /is an absolute path/, outside);
  await refused([{ path: '../x', data: 'x' }], /has a "\.\." component/, outside);
});

test('an entry replacing a symlink replaces the link, not what it points to', async () => {
  const outside = mkdtempSync(join(work, 'outside-'));
  const r = await unpack([
    { path: 'l', type: 'SymbolicLink', linkpath: join(outside, 'f') },
    { path: 'l', data: 'mine' },
    { path: 'd', type: 'SymbolicLink', linkpath: outside },
    { path: 'd/', type: 'Directory' },
    { path: 'd/x', data: 'x' },
  ]);
  assert.equal(lstatSync(join(r.dir, 'l')).isFile(), true);
  assert.equal(lstatSync(join(r.dir, 'd')).isDirectory(), true);
  assert.deepEqual(readdirSync(outside), []);
});
