import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AgniError } from '../../core/errors.js';
import { fitsImageArchive, normaliseArchivePath, resolveArchivePath } from './archive-paths.js';

test('archive names are normalised and never leave the root', () => {
  assert.equal(normaliseArchivePath('./blobs//sha256/abc/'), 'blobs/sha256/abc');
  assert.equal(normaliseArchivePath('./'), '');
  assert.equal(normaliseArchivePath('a/../b'), 'b');
  assert.equal(normaliseArchivePath('../x'), undefined);
  assert.equal(normaliseArchivePath('a/../../x'), undefined);
  assert.equal(normaliseArchivePath('/etc/passwd'), undefined);
});

test('manifest.json paths and link targets resolve inside the archive or are refused by name', () => {
  assert.equal(resolveArchivePath('../c.tar', 'link', 'abc'), 'c.tar');
  assert.equal(resolveArchivePath('blobs/sha256/x', 'Layers[0]'), 'blobs/sha256/x');
  for (const bad of ['../layer.tar', '/abs.tar', 'a/../../b', '.']) {
    assert.throws(
      () => resolveArchivePath(bad, 'manifest.json[0].Layers[2]'),
      (e: unknown) =>
        e instanceof AgniError &&
        e.code === 'manifest_invalid' &&
        e.message.startsWith('manifest.json[0].Layers[2]: path'),
      bad,
    );
  }
});

test('entry names of OCI layouts and docker save fit; a root filesystem does not', () => {
  const hex = 'a'.repeat(64);
  for (const [p, dir] of [
    ['', true],
    ['oci-layout', false],
    ['index.json', false],
    ['blobs', true],
    ['blobs/sha256', true],
    [`blobs/sha256/${hex}`, false],
    ['manifest.json', false],
    ['repositories', false],
    [`${hex}.json`, false],
    [hex, true],
    [`${hex}/layer.tar`, false],
    [`${hex}/VERSION`, false],
  ] as const) {
    assert.equal(fitsImageArchive(p, dir), true, p);
  }
  for (const [p, dir] of [
    ['bin', true],
    ['usr/bin/env', false],
    ['etc/passwd', false],
    [`${hex}/other`, false],
    ['blobs/sha256/x/y', false],
    ['blobs/sha256', false],
  ] as const) {
    assert.equal(fitsImageArchive(p, dir), false, p);
  }
});
