import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAgniError } from './errors.js';
import { parseManifest } from './manifest.js';
import {
  assertWritesVolume,
  checkVolumeNames,
  effectiveMode,
  insidePath,
  mountPathProblem,
  parseOutputSpec,
  parseRefSpec,
  parseVolumeFlag,
  parseVolumeFlags,
  type VolumeMount,
} from './volumes.js';

test('--volume NAME=/path[:ro|:rw]: read-only unless :rw', () => {
  assert.deepEqual(parseVolumeFlag('data=/srv/data'), { name: 'data', hostPath: '/srv/data', mode: 'ro' });
  assert.deepEqual(parseVolumeFlag('data=/srv/data/:rw'), {
    name: 'data',
    hostPath: '/srv/data',
    mode: 'rw',
  });
  assert.deepEqual(parseVolumeFlag('d=/a/../b:ro'), { name: 'd', hostPath: '/b', mode: 'ro' });
  for (const bad of ['data', '=/x', 'Data=/x', 'data=rel/path', 'data=/', 'data=/:rw', 'a:b=/x']) {
    assert.throws(
      () => parseVolumeFlag(bad),
      (e: unknown) => isAgniError(e) && e.code === 'bad_request' && e.message.startsWith('--volume:'),
      bad,
    );
  }
  assert.throws(() => parseVolumeFlags(['a=/x', 'a=/y']), /declared twice/);
});

test('mount points: absolute, normalised, never / or a platform path', () => {
  assert.equal(mountPathProblem('/data'), undefined);
  assert.equal(mountPathProblem('/mnt/refs'), undefined);
  assert.equal(mountPathProblem('/tmp/in'), undefined);
  for (const bad of [
    'data',
    '/',
    '/data/',
    '/a/../b',
    '/a//b',
    '/proc/x',
    '/sys',
    '/dev/shm',
    '/fn',
    '/fn/x',
    '/run/secrets',
    '/run',
    '/.agni',
    '/agni/x',
  ]) {
    assert.notEqual(mountPathProblem(bad), undefined, bad);
  }
});

test('agni.yaml volumes: parsed with mode ro by default; bad entries name volumes[i].field', () => {
  const m = parseManifest(
    'name: f\nruntime: host\ncommand: cat\nvolumes:\n  - {name: data, path: /data}\n  - {name: out, path: /mnt/out, mode: rw}\ninput: stdin\n',
  );
  assert.deepEqual(m.volumes, [
    { name: 'data', path: '/data', mode: 'ro' },
    { name: 'out', path: '/mnt/out', mode: 'rw' },
  ]);
  assert.equal(m.input, 'stdin');
  const cases: [string, RegExp][] = [
    ['[{name: data, path: /proc/x}]', /`volumes\[0\]\.path`.*\/proc/],
    ['[{name: data, path: /data}, {name: data, path: /other}]', /`volumes\[1\]\.name`.*already mounted/],
    ['[{name: a, path: /data}, {name: b, path: /data/b}]', /`volumes\[1\]\.path`.*apart from volumes\[0\]/],
    ['[{name: a, path: /data, mode: rwx}]', /`volumes\[0\]\.mode`/],
    ['[{name: a, path: /data, host: /etc}]', /`volumes\[0\]\.host`: .*no such field/],
    ['[{name: A, path: /data}]', /`volumes\[0\]\.name`/],
  ];
  for (const [v, re] of cases) {
    assert.throws(
      () => parseManifest(`name: f\nruntime: host\ncommand: cat\nvolumes: ${v}\n`),
      (e: unknown) => isAgniError(e) && e.code === 'manifest_invalid' && re.test(e.message),
      v,
    );
  }
});

test('rw only when both the operator and the manifest say rw', () => {
  const decl = (mode: 'ro' | 'rw') => ({ name: 'd', hostPath: '/srv/d', mode });
  const mount = (mode: 'ro' | 'rw') => ({ name: 'd', path: '/d', mode });
  assert.equal(effectiveMode(mount('rw'), decl('rw')), 'rw');
  assert.equal(effectiveMode(mount('rw'), decl('ro')), 'ro');
  assert.equal(effectiveMode(mount('ro'), decl('rw')), 'ro');
  assert.equal(effectiveMode(mount('ro'), decl('ro')), 'ro');
});

test('an unknown volume is refused naming volumes[i].name and the volumes that exist', () => {
  assert.throws(
    () => checkVolumeNames([{ name: 'data' }, { name: 'nope' }], ['scratch', 'data']),
    (e: unknown) =>
      isAgniError(e) &&
      e.code === 'manifest_invalid' &&
      /`volumes\[1\]\.name`: no volume "nope"/.test(e.message) &&
      /volumes that exist: data, scratch/.test(e.message),
  );
  assert.throws(() => checkVolumeNames([{ name: 'x' }], []), /volumes that exist: none/);
});

test('--ref VOLUME:/glob: never `..`, never relative', () => {
  assert.deepEqual(parseRefSpec('data:/shards/*.smi'), { volume: 'data', pattern: '/shards/*.smi' });
  for (const bad of [
    'data',
    ':/x',
    'data:x/*.smi',
    'data:/../etc/*',
    'data:/a/./b',
    'data:/',
    'Data:/x',
    'data:/a\\b',
  ]) {
    assert.throws(
      () => parseRefSpec(bad),
      (e: unknown) => isAgniError(e) && e.code === 'bad_request',
      bad,
    );
  }
  assert.equal(insidePath('/data', { volume: 'data', path: 'shards/a.smi' }), '/data/shards/a.smi');
});

test('--out-to VOLUME:/dir: normalised, never `..`, never relative; the top is the empty dir', () => {
  assert.deepEqual(parseOutputSpec('scratch:/runs//1/'), { volume: 'scratch', dir: 'runs/1' });
  assert.deepEqual(parseOutputSpec('scratch:/'), { volume: 'scratch', dir: '' });
  for (const bad of [
    'scratch',
    ':/x',
    'scratch:x',
    'scratch:/../x',
    'scratch:/a/./b',
    'Scratch:/x',
    'scratch:/a\0b',
  ])
    assert.throws(
      () => parseOutputSpec(bad, 'field `output_to`'),
      (e: unknown) =>
        isAgniError(e) && e.code === 'bad_request' && e.message.startsWith('field `output_to`: '),
      bad,
    );
});

test('assertWritesVolume: only a read-write mount of that volume lets outputs be written for the function', () => {
  const fn = (volumes?: VolumeMount[]) => ({ function: 'f', version: 3, manifest: { volumes } });
  assertWritesVolume(fn([{ name: 'scratch', path: '/mnt', mode: 'rw' }]), 'scratch', 'output_to');
  for (const mounts of [
    undefined,
    [],
    [{ name: 'scratch', path: '/mnt', mode: 'ro' as const }],
    [{ name: 'other', path: '/mnt', mode: 'rw' as const }],
  ])
    assert.throws(() => assertWritesVolume(fn(mounts), 'scratch', 'field `output_to`'), {
      code: 'bad_request',
      message:
        'field `output_to`: f v3 does not mount volume scratch read-write, so its outputs may not be written there',
    });
});
