import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AgniError } from '../../core/errors.js';
import { archKey, checkAlias, normaliseImageName, parseArch, pickAlias } from './image-alias.js';

function refused(fn: () => unknown, message: RegExp, hint?: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof AgniError);
    assert.equal(e.code, 'bad_request');
    assert.match(e.message, message);
    if (hint) assert.match(e.hint ?? '', hint);
    return true;
  });
}

test('arches are OCI (GOARCH) names with an optional variant; arm64/v8 is arm64', () => {
  assert.equal(parseArch('arm64'), 'arm64');
  assert.equal(parseArch('arm64/v8'), 'arm64');
  assert.equal(parseArch('arm/v7'), 'arm/v7');
  assert.equal(parseArch('amd64/v3'), 'amd64/v3');
  for (const a of ['386', 'ppc64le', 's390x', 'riscv64', 'loong64']) assert.equal(parseArch(a), a);
});

test('a wrong arch is refused naming the field, with the OCI name when it is a known other spelling', () => {
  refused(
    () => parseArch('aarch64'),
    /^arch "aarch64": not an OCI architecture/,
    /OCI calls aarch64 "arm64"/,
  );
  refused(() => parseArch('x86_64'), /not an OCI architecture/, /"amd64"/);
  refused(() => parseArch('armv7l'), /not an OCI architecture/, /"arm\/v7"/);
  refused(() => parseArch('sparc'), /not an OCI architecture/, /one of 386, amd64/);
  refused(() => parseArch('linux/arm64'), /not an OCI architecture/);
  refused(() => parseArch('arm/v7/x'), /optional \/variant/, /linux\/arm64/);
  refused(() => parseArch(''), /optional \/variant/);
  refused(() => parseArch('arm/7'), /variant "7" is not v<number>/);
  refused(() => parseArch('ARM64', '--arch'), /^--arch "ARM64"/);
});

test('names are stored as canonical references', () => {
  assert.equal(normaliseImageName('busybox'), 'docker.io/library/busybox:latest');
  assert.equal(normaliseImageName('127.0.0.1:5000/tools/bb:1'), '127.0.0.1:5000/tools/bb:1');
  assert.equal(normaliseImageName('index.docker.io/x/y:2'), 'docker.io/x/y:2');
  assert.deepEqual(checkAlias({ canonical: 'busybox:1', arch: 'arm64/v8', image: 'arm64v8/busybox:1' }), {
    canonical: 'docker.io/library/busybox:1',
    arch: 'arm64',
    image: 'docker.io/arm64v8/busybox:1',
  });
});

test('an alias of itself is refused, however it is spelled; bad names are refused', () => {
  refused(
    () => checkAlias({ canonical: 'busybox', arch: 'arm64', image: 'docker.io/library/busybox:latest' }),
    /docker\.io\/library\/busybox:latest cannot be an alias of itself/,
  );
  refused(
    () => checkAlias({ canonical: 'Bad/Name', arch: 'arm64', image: 'x/y' }),
    /image reference "Bad\/Name"/,
  );
  refused(() => checkAlias({ canonical: 'x/y', arch: 'arm64', image: '' }), /image reference "": empty/);
});

test('the alias for a node: exact arch/variant first, then the arch set without a variant', () => {
  const aliases = [
    { arch: 'arm', image: 'a/arm-any' },
    { arch: 'arm/v6', image: 'a/arm6' },
    { arch: 'arm64', image: 'a/arm64' },
  ];
  assert.equal(pickAlias(aliases, { os: 'linux', architecture: 'arm64', variant: 'v8' }), 'a/arm64');
  assert.equal(pickAlias(aliases, { os: 'linux', architecture: 'arm64' }), 'a/arm64');
  assert.equal(pickAlias(aliases, { os: 'linux', architecture: 'arm', variant: 'v6' }), 'a/arm6');
  assert.equal(pickAlias(aliases, { os: 'linux', architecture: 'arm', variant: 'v7' }), 'a/arm-any');
  assert.equal(pickAlias(aliases, { os: 'linux', architecture: 'amd64' }), undefined, 'no alias: unchanged');
  assert.equal(
    pickAlias([{ arch: 'amd64/v3', image: 'a/v3' }], { os: 'linux', architecture: 'amd64' }),
    undefined,
  );
  assert.equal(archKey({ os: 'linux', architecture: 'arm64', variant: 'v8' }), 'arm64');
  assert.equal(archKey({ os: 'linux', architecture: 'arm', variant: 'v7' }), 'arm/v7');
});
