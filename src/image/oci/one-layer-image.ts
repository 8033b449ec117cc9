/**
 * An image of exactly one layer, built from nothing: what `agni image import` makes of a root
 * filesystem, and what cluster mode makes of a version's /fn tree (src/app/code-publisher.ts).
 * Pure: the same layer and fields give the same config and manifest bytes, so the same digests.
 */

import { type BuiltManifest, type LayerBlob, sealManifest } from './build.js';
import type { Platform } from './media-types.js';

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

export type OneLayerImage = BuiltManifest;

export function oneLayerImage(layer: LayerBlob, spec: OneLayerSpec): OneLayerImage {
  return sealManifest(
    {
      created: spec.created,
      architecture: spec.platform.architecture,
      os: spec.platform.os,
      ...(spec.platform.variant ? { variant: spec.platform.variant } : {}),
      config: spec.process ?? {},
      rootfs: { type: 'layers', diff_ids: [layer.diffId] },
      history: [{ created: spec.created, created_by: spec.createdBy }],
    },
    [{ mediaType: layer.mediaType, digest: layer.digest, size: layer.size }],
    spec.platform,
    spec.annotations,
  );
}
