import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MOUNT_OPTIONS_MAX, mountsUnder, overlayOptions } from './overlay.js';
import { linkStaysInside, normaliseEntryPath, SymlinkTracker, sanitiseMode } from './unpack-rules.js';
import { classifyEntry } from './whiteout.js';

test('normaliseEntryPath', () => {
  assert.deepEqual(normaliseEntryPath('./a//b/'), { path: 'a/b' });
  assert.deepEqual(normaliseEntryPath('.'), { path: '' });
  assert.deepEqual(normaliseEntryPath('a/../b'), { refused: 'has a ".." component' });
  assert.deepEqual(normaliseEntryPath('/etc/passwd'), { refused: 'is an absolute path' });
  assert.deepEqual(normaliseEntryPath('a..b/..c'), { path: 'a..b/..c' });
});

test('sanitiseMode clears setuid and setgid only', () => {
  assert.equal(sanitiseMode(0o6755), 0o755);
  assert.equal(sanitiseMode(0o1777), 0o1777);
  assert.equal(sanitiseMode(undefined), undefined);
});

test('classifyEntry: whiteouts, opaque markers, aufs metadata', () => {
  assert.deepEqual(classifyEntry('a/b'), { kind: 'file' });
  assert.deepEqual(classifyEntry('a/.wh.b'), { kind: 'whiteout', target: 'a/b' });
  assert.deepEqual(classifyEntry('.wh.top'), { kind: 'whiteout', target: 'top' });
  assert.deepEqual(classifyEntry('a/.wh..wh..opq'), { kind: 'opaque', dir: 'a' });
  assert.deepEqual(classifyEntry('.wh..wh..opq'), { kind: 'opaque', dir: '' });
  assert.deepEqual(classifyEntry('.wh..wh.plnk'), { kind: 'aufs-meta' });
  assert.throws(() => classifyEntry('a/.wh.'), /names no file/);
});

test('SymlinkTracker and linkStaysInside', () => {
  const t = new SymlinkTracker();
  t.record('a', 'SymbolicLink', '/etc');
  assert.deepEqual(t.linkAncestor('a/b/c'), { link: 'a', target: '/etc' });
  assert.equal(t.linkAncestor('a'), undefined, 'the link itself may be replaced');
  assert.equal(t.linkAncestor('ab/c'), undefined);
  t.record('h', 'Link', 'a');
  assert.deepEqual(
    t.linkAncestor('h/passwd'),
    { link: 'h', target: '/etc' },
    'a hard link to a symlink is one',
  );
  t.record('a', 'Directory');
  assert.equal(t.linkAncestor('a/b'), undefined);
  assert.equal(linkStaysInside('x/l', '../y'), true);
  assert.equal(linkStaysInside('x/l', '../../y'), false);
  assert.equal(linkStaysInside('l', '/etc'), false);
});

test('overlayOptions: short relative lowers from a shared parent; over a page refused', () => {
  const hex = (i: number) => `/h/content/layers/${String(i).padStart(64, '0')}`;
  const o = overlayOptions([hex(2), hex(1)], '/s/overlay/upper', '/s/overlay/work');
  assert.equal(o.cwd, '/h/content/layers');
  assert.equal(
    o.options,
    `lowerdir=${'0'.repeat(63)}2:${'0'.repeat(63)}1,upperdir=/s/overlay/upper,workdir=/s/overlay/work`,
  );
  const mixed = overlayOptions(['/a/x', '/b/y'], '/u', '/w');
  assert.equal(mixed.cwd, undefined);
  assert.equal(mixed.options, 'lowerdir=/a/x:/b/y,upperdir=/u,workdir=/w');
  const many = Array.from({ length: 60 }, (_, i) => hex(i));
  assert.ok(overlayOptions(many, '/u', '/w').options.length <= MOUNT_OPTIONS_MAX);
  assert.throws(
    () =>
      overlayOptions(
        Array.from({ length: 70 }, (_, i) => hex(i)),
        '/u',
        '/w',
      ),
    /70 layers .* over the kernel's 4095/,
  );
  assert.throws(() => overlayOptions(['/a,b'], '/u', '/w'), /cannot hold/);
  assert.throws(() => overlayOptions([], '/u', '/w'), /at least one layer/);
});

test('mountsUnder reads mountinfo, unescapes, deepest first', () => {
  const info = [
    '27 1 254:0 / / rw - ext4 /dev/vda rw',
    '90 27 0:50 / /h/sandboxes/a/overlay/merged rw - overlay overlay rw',
    '91 27 0:51 / /h/sandboxes/a\\040b rw - tmpfs tmpfs rw',
    '92 90 0:52 / /h/sandboxes/a/overlay/merged/proc rw - proc proc rw',
    '93 27 0:53 / /h/sandboxesX rw - tmpfs tmpfs rw',
  ].join('\n');
  assert.deepEqual(mountsUnder('/h/sandboxes', info), [
    '/h/sandboxes/a/overlay/merged/proc',
    '/h/sandboxes/a/overlay/merged',
    '/h/sandboxes/a b',
  ]);
});
