import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { AgniError } from '../../core/errors.js';
import type { OciImageRecord } from '../../store/oci-image-repo.js';
import { sha256Digest } from './content-store.js';
import { MT } from './media-types.js';
import { referencedSet } from './references.js';

/** An in-memory content store: digest → bytes. */
function blobs() {
  const m = new Map<string, Buffer>();
  const put = (v: unknown): string => {
    const b = Buffer.from(typeof v === 'string' ? v : JSON.stringify(v));
    const d = sha256Digest(b);
    m.set(d, b);
    return d;
  };
  const image = (name: string, layerNames: string[]) => {
    const config = put({ architecture: 'amd64', os: 'linux', name });
    const layers = layerNames.map((l) => put(`layer ${l}`));
    const manifest = put({
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: MT.ociConfig, digest: config, size: 1 },
      layers: layers.map((digest) => ({ mediaType: MT.ociLayerGzip, digest, size: 1 })),
    });
    return { config, layers, manifest };
  };
  return { m, put, image, read: async (d: string) => m.get(d) };
}

function record(
  name: string,
  img: { config: string; layers: string[]; manifest: string },
  indexDigest?: string,
) {
  return {
    name,
    manifestDigest: img.manifest,
    indexDigest: indexDigest ?? null,
    configDigest: img.config,
    layers: img.layers.map((digest) => ({ digest, size: 1, mediaType: MT.ociLayerGzip })),
    platform: 'linux/amd64',
    sizeBytes: 0,
    createdAt: 0,
  } satisfies OciImageRecord;
}

test('records keep their manifest, config and layers; blobs of nothing else are not referenced', async () => {
  const s = blobs();
  const a = s.image('a', ['base', 'a1']);
  const orphan = s.image('orphan', ['o1']);
  const refs = await referencedSet([record('a', a)], [], s.read);
  assert.deepEqual(refs.blobs, new Set([a.manifest, a.config, ...a.layers]));
  assert.deepEqual(refs.layers, new Set(a.layers));
  for (const d of [orphan.manifest, orphan.config, ...orphan.layers]) assert.ok(!refs.blobs.has(d));
});

test('an index keeps the children that are present with their configs and layers', async () => {
  const s = blobs();
  const amd = s.image('amd', ['base', 'x']);
  const arm = s.image('arm', ['arm-base']);
  const absent = 'sha256:'.padEnd(71, 'e');
  const index = s.put({
    schemaVersion: 2,
    mediaType: MT.ociIndex,
    manifests: [
      {
        mediaType: MT.ociManifest,
        digest: amd.manifest,
        size: 1,
        platform: { os: 'linux', architecture: 'amd64' },
      },
      {
        mediaType: MT.ociManifest,
        digest: arm.manifest,
        size: 1,
        platform: { os: 'linux', architecture: 'arm64' },
      },
      {
        mediaType: MT.ociManifest,
        digest: absent,
        size: 1,
        platform: { os: 'linux', architecture: 's390x' },
      },
    ],
  });
  const refs = await referencedSet([record('multi', amd, index)], [], s.read);
  for (const d of [index, amd.manifest, arm.manifest, arm.config, ...arm.layers, ...amd.layers]) {
    assert.ok(refs.blobs.has(d), d);
  }
  assert.ok(!refs.blobs.has(absent), 'a child never pulled is not listed');
  assert.ok(refs.layers.has(arm.layers[0]!));
});

test('images pinned by function versions are kept without a record', async () => {
  const s = blobs();
  const used = s.image('used', ['u1', 'u2']);
  const gone = 'sha256:'.padEnd(71, 'f');
  const refs = await referencedSet(
    [],
    [
      { manifestDigest: used.manifest, by: 'fn v1' },
      { manifestDigest: gone, by: 'old v2' },
    ],
    s.read,
  );
  assert.deepEqual(refs.blobs, new Set([used.manifest, used.config, ...used.layers, gone]));
  assert.deepEqual(refs.layers, new Set(used.layers));
});

test('a pinned manifest that cannot be read as one stops the prune, naming the version', async () => {
  const s = blobs();
  const bad = s.put('not json');
  await assert.rejects(
    referencedSet([], [{ manifestDigest: bad, by: 'wordcount v3' }], s.read),
    (e: AgniError) => e.code === 'manifest_invalid' && /the image of wordcount v3/.test(e.message),
  );
});

test('a damaged index child is skipped; an index two records share is read once', async () => {
  const s = blobs();
  const a = s.image('a', ['l']);
  const bad = s.put('garbage');
  const index = s.put({
    schemaVersion: 2,
    mediaType: MT.ociIndex,
    manifests: [{ mediaType: MT.ociManifest, digest: bad, size: 1 }],
  });
  const refs = await referencedSet([record('a', a, index), record('a2', a, index)], [], s.read);
  assert.ok(refs.blobs.has(bad) && refs.blobs.has(index));
  assert.equal(refs.layers.size, 1);
});
