import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parseManifest } from '../core/manifest.js';
import type { VersionRecord } from '../store/store.js';
import { recordedImagePlatforms, versionNeeds } from './version-needs.js';

const v = (imageId: string, extra = ''): VersionRecord => ({
  function: 'f',
  version: 7,
  manifest: parseManifest(`name: f\nruntime: x\ncommand: "true"\n${extra}`),
  codeDir: '/nowhere',
  imageId,
  createdAt: 0,
});

test('host runtime: any backend and platform; an OCI image: runc and its platforms; placement passes through', async () => {
  const asked: string[] = [];
  const needs = versionNeeds(async (id) => {
    asked.push(id);
    return id === 'oci:sha256:aa' ? ['linux/arm64', 'linux/amd64'] : undefined;
  });
  assert.deepEqual(await needs(v('host', 'placement: {labels: {site: a}}\n')), {
    key: 'f@7',
    placement: { labels: { site: 'a' } },
  });
  assert.deepEqual(await needs(v('oci:sha256:aa')), {
    key: 'f@7',
    backends: ['runc'],
    imagePlatforms: ['linux/arm64', 'linux/amd64'],
  });
  assert.deepEqual(await needs(v('local-img')), { key: 'f@7' });
  assert.deepEqual(asked, ['oci:sha256:aa', 'local-img']);
});

test('recorded platforms: a manifest of an index has every platform recorded for that index', async () => {
  const rec = (name: string, manifestDigest: string, indexDigest: string | null, platform: string) => ({
    name,
    manifestDigest,
    indexDigest,
    configDigest: 'c',
    layers: [],
    platform,
    sizeBytes: 0,
    createdAt: 0,
  });
  const of = recordedImagePlatforms({
    list: async () => [
      rec('a', 'sha256:1', 'sha256:i', 'linux/amd64'),
      rec('a-arm', 'sha256:2', 'sha256:i', 'linux/arm64/v8'),
      rec('b', 'sha256:3', null, 'linux/riscv64'),
    ],
  });
  assert.deepEqual(await of('oci:sha256:2'), ['linux/amd64', 'linux/arm64/v8']);
  assert.deepEqual(await of('oci:sha256:3'), ['linux/riscv64']);
  assert.equal(await of('oci:sha256:9'), undefined);
  assert.equal(await of('host'), undefined);
});
