import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAgniError } from '../../core/errors.js';
import { emulatedPlatforms, nodePlatforms, parsePlatformList } from './node-platforms.js';
import { platformRuns, selectManifestFor } from './platform.js';

const entry = (flags: string, enabled = true) =>
  `${enabled ? 'enabled' : 'disabled'}\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: ${flags}\noffset 0\nmagic 7f454c46\n`;

test('only enabled qemu entries with the fix-binary flag count as emulated platforms', () => {
  assert.deepEqual(emulatedPlatforms({ 'qemu-aarch64': entry('OCF') }), [
    { os: 'linux', architecture: 'arm64', variant: 'v8' },
  ]);
  assert.deepEqual(
    emulatedPlatforms({ 'qemu-aarch64': entry('OC') }),
    [],
    'no F: the interpreter is looked up in the sandbox',
  );
  assert.deepEqual(emulatedPlatforms({ 'qemu-aarch64': entry('F', false) }), []);
  assert.deepEqual(emulatedPlatforms({ 'python3.11': entry('F') }), []);
  assert.deepEqual(emulatedPlatforms({ 'qemu-riscv64-static': entry('F') }), [
    { os: 'linux', architecture: 'riscv64' },
  ]);
});

test('AGNI_PLATFORMS replaces the list, best first, and bad entries are named', () => {
  assert.deepEqual(nodePlatforms({ AGNI_PLATFORMS: 'linux/arm64, linux/amd64' }), [
    { os: 'linux', architecture: 'arm64' },
    { os: 'linux', architecture: 'amd64' },
  ]);
  assert.throws(
    () => parsePlatformList('linux/arm64,arm64'),
    (e) => isAgniError(e) && /AGNI_PLATFORMS: "arm64"/.test(e.message),
  );
  assert.throws(() => parsePlatformList(' , '), /AGNI_PLATFORMS/);
});

test('platformRuns: arch and variant must agree; arm64 without a variant is v8', () => {
  assert.ok(
    platformRuns(
      { os: 'linux', architecture: 'arm64' },
      { os: 'linux', architecture: 'arm64', variant: 'v8' },
    ),
  );
  assert.ok(platformRuns({ os: 'linux', architecture: 'amd64' }, { os: 'linux', architecture: 'amd64' }));
  assert.ok(
    !platformRuns(
      { os: 'linux', architecture: 'arm', variant: 'v7' },
      { os: 'linux', architecture: 'arm', variant: 'v6' },
    ),
  );
  assert.ok(!platformRuns({ os: 'windows', architecture: 'amd64' }, { os: 'linux', architecture: 'amd64' }));
});

test('selectManifestFor takes the first wanted platform the index offers, else lists both sides', () => {
  const d = (architecture: string, n: string) => ({
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    digest: `sha256:${n.repeat(64)}`,
    size: 1,
    platform: { os: 'linux', architecture },
  });
  const idx = [d('amd64', 'a'), d('arm64', 'b')];
  const arm = { os: 'linux', architecture: 'arm64' };
  const amd = { os: 'linux', architecture: 'amd64' };
  assert.equal(selectManifestFor(idx, [arm, amd], 'x').digest, idx[1]!.digest);
  assert.equal(
    selectManifestFor(idx, [{ os: 'linux', architecture: 's390x' }, amd], 'x').digest,
    idx[0]!.digest,
  );
  assert.throws(
    () => selectManifestFor([d('ppc64le', 'c')], [amd, arm], 'reg/x:1'),
    (e) =>
      isAgniError(e) &&
      e.code === 'platform_unsupported' &&
      /linux\/ppc64le/.test(e.message) &&
      /linux\/amd64, linux\/arm64/.test(e.message),
  );
});
