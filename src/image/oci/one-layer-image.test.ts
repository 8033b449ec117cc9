import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sha256Digest } from './content-store.js';
import { MT, parseManifest } from './media-types.js';
import { oneLayerImage } from './one-layer-image.js';

const layer = {
  digest: `sha256:${'a'.repeat(64)}`,
  size: 123,
  diffId: `sha256:${'b'.repeat(64)}`,
  mediaType: MT.ociLayerGzip,
};
const spec = {
  platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
  created: '1970-01-01T00:00:00Z',
  createdBy: 'agni test',
};

test('one layer: a valid OCI manifest over a config naming the platform and the diff_id; same inputs, same digests', () => {
  const img = oneLayerImage(layer, spec);
  assert.equal(img.manifestDigest, sha256Digest(img.manifest));
  assert.equal(img.configDigest, sha256Digest(img.config));
  assert.equal(oneLayerImage(layer, spec).manifestDigest, img.manifestDigest);
  const p = parseManifest(img.manifest, undefined, 'test');
  assert.equal(p.kind, 'manifest');
  if (p.kind !== 'manifest') return;
  assert.equal(p.manifest.config.mediaType, MT.ociConfig);
  assert.deepEqual(p.manifest.layers, [
    { mediaType: layer.mediaType, digest: layer.digest, size: layer.size },
  ]);
  const config = JSON.parse(img.config.toString('utf8'));
  assert.equal(config.architecture, 'arm64');
  assert.equal(config.variant, 'v8');
  assert.deepEqual(config.rootfs, { type: 'layers', diff_ids: [layer.diffId] });
  assert.equal(img.sizeBytes, img.config.length + layer.size);
  // Anything else changes the digest.
  assert.notEqual(
    oneLayerImage(layer, { ...spec, created: '2024-01-01T00:00:00Z' }).manifestDigest,
    img.manifestDigest,
  );
  assert.notEqual(
    oneLayerImage(layer, { ...spec, platform: { os: 'linux', architecture: 'amd64' } }).manifestDigest,
    img.manifestDigest,
  );
});
