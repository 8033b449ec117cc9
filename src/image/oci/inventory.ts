/**
 * What the images in the content store cost and share (pure). An image's size counts every blob it
 * needs once (manifest, index, config, layers); its unique bytes are the blobs no other image
 * needs, i.e. what removing it alone would free; shared bytes are the rest. Totals compare the sum
 * of those apparent sizes with the bytes really stored, which is what layer sharing saves.
 */
import type { OciImageRecord } from '../../store/oci-image-repo.js';
import type { ImageIndex } from './media-types.js';
import { formatPlatform } from './platform.js';

export interface ImageUsage {
  name: string;
  /** os/arch[/variant] of the record first, then the other platforms its index lists */
  architectures: string[];
  sizeBytes: number;
  uniqueBytes: number;
  sharedBytes: number;
  layers: number;
  createdAt: number;
}

export interface InventoryTotals {
  images: number;
  /** every blob file in the store, referenced or not */
  storeBytes: number;
  /** the sum of the images' sizes, as if nothing were shared */
  apparentBytes: number;
  /** distinct bytes the images need */
  referencedBytes: number;
  /** apparentBytes − referencedBytes */
  savedBytes: number;
}

export interface Inventory {
  images: ImageUsage[];
  totals: InventoryTotals;
}

export interface InventoryInput {
  records: OciImageRecord[];
  /** size of each blob present in the store (manifests, indexes and configs are sized from here) */
  blobSizes: ReadonlyMap<string, number>;
  /** parsed index blobs by digest, for the platforms they offer; an index not given adds none */
  indexes?: ReadonlyMap<string, ImageIndex>;
}

/** Platforms an index offers, skipping attestation entries (buildx marks them unknown/unknown). */
export function indexPlatforms(index: ImageIndex): string[] {
  const out: string[] = [];
  for (const m of index.manifests) {
    if (!m.platform || m.platform.os === 'unknown' || m.platform.architecture === 'unknown') continue;
    const p = formatPlatform(m.platform);
    if (!out.includes(p)) out.push(p);
  }
  return out;
}

/** Every blob a record needs with its size: layer sizes come from the record, the rest from the store. */
export function recordBlobs(r: OciImageRecord, blobSizes: ReadonlyMap<string, number>): Map<string, number> {
  const blobs = new Map<string, number>();
  const add = (d: string | null, size?: number) => {
    if (d && !blobs.has(d)) blobs.set(d, size ?? blobSizes.get(d) ?? 0);
  };
  add(r.manifestDigest);
  add(r.indexDigest);
  add(r.configDigest);
  for (const l of r.layers) add(l.digest, l.size);
  return blobs;
}

/** For each layer digest, the names of the images that have it (in record order). */
export function layerOwners(records: OciImageRecord[]): Map<string, string[]> {
  const owners = new Map<string, string[]>();
  for (const r of records) {
    for (const l of r.layers) {
      const names = owners.get(l.digest) ?? [];
      if (!names.includes(r.name)) names.push(r.name);
      owners.set(l.digest, names);
    }
  }
  return owners;
}

export function inventory(input: InventoryInput): Inventory {
  const perImage = input.records.map((r) => ({ r, blobs: recordBlobs(r, input.blobSizes) }));
  const users = new Map<string, number>();
  const distinct = new Map<string, number>();
  for (const { blobs } of perImage) {
    for (const [d, size] of blobs) {
      users.set(d, (users.get(d) ?? 0) + 1);
      distinct.set(d, size);
    }
  }
  const images = perImage.map(({ r, blobs }): ImageUsage => {
    let sizeBytes = 0;
    let uniqueBytes = 0;
    for (const [d, size] of blobs) {
      sizeBytes += size;
      if (users.get(d) === 1) uniqueBytes += size;
    }
    const index = r.indexDigest ? input.indexes?.get(r.indexDigest) : undefined;
    const architectures = [r.platform];
    for (const p of index ? indexPlatforms(index) : []) if (!architectures.includes(p)) architectures.push(p);
    return {
      name: r.name,
      architectures,
      sizeBytes,
      uniqueBytes,
      sharedBytes: sizeBytes - uniqueBytes,
      layers: r.layers.length,
      createdAt: r.createdAt,
    };
  });
  const apparentBytes = images.reduce((n, i) => n + i.sizeBytes, 0);
  const referencedBytes = [...distinct.values()].reduce((n, s) => n + s, 0);
  const storeBytes = [...input.blobSizes.values()].reduce((n, s) => n + s, 0);
  return {
    images,
    totals: {
      images: images.length,
      storeBytes,
      apparentBytes,
      referencedBytes,
      savedBytes: apparentBytes - referencedBytes,
    },
  };
}
