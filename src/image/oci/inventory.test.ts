import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { OciImageRecord } from '../../store/oci-image-repo.js';
import { indexPlatforms, inventory, layerOwners } from './inventory.js';
import { type ImageIndex, MT } from './media-types.js';

const d = (c: string) => `sha256:${c.repeat(64)}`;

function rec(name: string, layers: [string, number][], extra: Partial<OciImageRecord> = {}): OciImageRecord {
  return {
    name,
    manifestDigest: d(name[0]!),
    indexDigest: null,
    // the config is named by the next letter: a → b, c → d
    configDigest: d(String.fromCharCode(name.charCodeAt(0) + 1)),
    layers: layers.map(([c, size]) => ({ digest: d(c), size, mediaType: MT.ociLayerGzip })),
    platform: 'linux/amd64',
    sizeBytes: 0,
    createdAt: 1,
    ...extra,
  };
}

test('sizes, unique and shared bytes, and totals over three images sharing a base layer', () => {
  // a: base(1) + x ; c: base + y ; e: base. Configs b, d, f; manifests a, c, e.
  const records = [
    rec('a', [
      ['1', 1000],
      ['7', 300],
    ]),
    rec('c', [
      ['1', 1000],
      ['8', 50],
    ]),
    rec('e', [['1', 1000]]),
  ];
  const blobSizes = new Map<string, number>([
    [d('a'), 10],
    [d('b'), 5],
    [d('c'), 11],
    [d('d'), 6],
    [d('e'), 12],
    [d('f'), 7],
    [d('1'), 1000],
    [d('7'), 300],
    [d('8'), 50],
    [d('9'), 4000], // a blob no image needs
  ]);
  const inv = inventory({ records, blobSizes });
  const by = Object.fromEntries(inv.images.map((i) => [i.name, i]));
  assert.deepEqual(
    { size: by.a!.sizeBytes, unique: by.a!.uniqueBytes, shared: by.a!.sharedBytes, layers: by.a!.layers },
    { size: 10 + 5 + 1000 + 300, unique: 10 + 5 + 300, shared: 1000, layers: 2 },
  );
  assert.equal(by.c!.sharedBytes, 1000);
  assert.equal(by.e!.uniqueBytes, 12 + 7);
  const apparent = 1315 + (11 + 6 + 1000 + 50) + (12 + 7 + 1000);
  const referenced = 10 + 5 + 11 + 6 + 12 + 7 + 1000 + 300 + 50;
  assert.deepEqual(inv.totals, {
    images: 3,
    storeBytes: referenced + 4000,
    apparentBytes: apparent,
    referencedBytes: referenced,
    savedBytes: apparent - referenced,
  });
  assert.equal(inv.totals.savedBytes, 2000, 'the base layer is stored once instead of three times');
});

test('two names for one image share everything; a layer listed twice counts once', () => {
  const one = rec('a', [
    ['1', 100],
    ['1', 100],
  ]);
  const two = { ...one, name: 'alias' };
  const inv = inventory({ records: [one, two], blobSizes: new Map([[d('1'), 100]]) });
  for (const i of inv.images) {
    assert.equal(i.uniqueBytes, 0, i.name);
    assert.equal(i.sharedBytes, i.sizeBytes);
    assert.equal(i.sizeBytes, 100, 'manifest and config unknown to blobSizes count as 0; the layer once');
  }
});

test('architectures: the pulled platform first, then the others the index lists, attestations skipped', () => {
  const index: ImageIndex = {
    schemaVersion: 2,
    mediaType: MT.ociIndex,
    manifests: [
      {
        mediaType: MT.ociManifest,
        digest: d('5'),
        size: 1,
        platform: { os: 'linux', architecture: 'amd64' },
      },
      {
        mediaType: MT.ociManifest,
        digest: d('6'),
        size: 1,
        platform: { os: 'linux', architecture: 'arm', variant: 'v7' },
      },
      {
        mediaType: MT.ociManifest,
        digest: d('3'),
        size: 1,
        platform: { os: 'unknown', architecture: 'unknown' },
      },
      { mediaType: MT.ociManifest, digest: d('4'), size: 1 },
    ],
  };
  assert.deepEqual(indexPlatforms(index), ['linux/amd64', 'linux/arm/v7']);
  const r = rec('a', [['1', 1]], { indexDigest: d('9'), platform: 'linux/arm/v7' });
  const withIndex = inventory({ records: [r], blobSizes: new Map(), indexes: new Map([[d('9'), index]]) });
  assert.deepEqual(withIndex.images[0]!.architectures, ['linux/arm/v7', 'linux/amd64']);
  const without = inventory({ records: [r], blobSizes: new Map() });
  assert.deepEqual(without.images[0]!.architectures, ['linux/arm/v7']);
});

test('layerOwners names every image holding a layer', () => {
  const owners = layerOwners([
    rec('a', [
      ['1', 1],
      ['2', 1],
    ]),
    rec('c', [['1', 1]]),
  ]);
  assert.deepEqual(owners.get(d('1')), ['a', 'c']);
  assert.deepEqual(owners.get(d('2')), ['a']);
});

test('an empty store', () => {
  assert.deepEqual(inventory({ records: [], blobSizes: new Map() }), {
    images: [],
    totals: { images: 0, storeBytes: 0, apparentBytes: 0, referencedBytes: 0, savedBytes: 0 },
  });
});
