/**
 * An image of exactly one layer, built from nothing: what `agni image import` makes of a root
 * filesystem, and what cluster mode makes of a version's /fn tree (src/app/code-publisher.ts).
 * Pure: the same layer and fields give the same config and manifest bytes, so the same digests.
 */

import type { LayerBlob } from './build.js';
import { sha256Digest } from './content-store.js';
import { type Descriptor, MT, type Platform } from './media-types.js';

export interface OneLayerSpec {
  /** where the image runs; `any` as architecture for a layer of files that run anywhere (a function's /fn) */
  platform: Platform;
  /** RFC 3339; fixed (1970-01-01T00:00:00Z) where the digest must depend on the files only */
  created: string;
  /** the history entry's `created_by` */
  createdBy: string;
  /** the process config (`config`), e.g. a WorkingDir; none by default */
  process?: Record<string, unknown>;
  /** manifest annotations */
  annotations?: Record<string, string>;
}

export interface OneLayerImage {
  manifest: Buffer;
  manifestDigest: string;
  config: Buffer;
  configDigest: string;
  layers: Descriptor[];
  platform: Platform;
  /** config and layer */
  sizeBytes: number;
}

export function oneLayerImage(layer: LayerBlob, spec: OneLayerSpec): OneLayerImage {
  const config = Buffer.from(
    JSON.stringify({
      created: spec.created,
      architecture: spec.platform.architecture,
      os: spec.platform.os,
      ...(spec.platform.variant ? { variant: spec.platform.variant } : {}),
      config: spec.process ?? {},
      rootfs: { type: 'layers', diff_ids: [layer.diffId] },
      history: [{ created: spec.created, created_by: spec.createdBy }],
    }),
  );
  const configDigest = sha256Digest(config);
  const layers: Descriptor[] = [{ mediaType: layer.mediaType, digest: layer.digest, size: layer.size }];
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: MT.ociConfig, digest: configDigest, size: config.length },
      layers,
      ...(spec.annotations && Object.keys(spec.annotations).length ? { annotations: spec.annotations } : {}),
    }),
  );
  return {
    manifest,
    manifestDigest: sha256Digest(manifest),
    config,
    configDigest,
    layers,
    platform: spec.platform,
    sizeBytes: config.length + layer.size,
  };
}
