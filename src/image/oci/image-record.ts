/** The stored record of an image, however it arrived (pulled, built, loaded from an archive). */
import type { OciImageRecord } from '../../store/oci-image-repo.js';
import type { Platform } from './media-types.js';
import { formatPlatform } from './platform.js';

/** What the content store holds for one single-platform image. */
export interface ImageContent {
  manifestDigest: string;
  indexDigest: string | null;
  configDigest: string;
  layers: { digest: string; size: number; mediaType: string }[];
  platform: Platform;
  sizeBytes: number;
}

export function imageRecord(name: string, img: ImageContent, createdAt = Date.now()): OciImageRecord {
  return {
    name,
    manifestDigest: img.manifestDigest,
    indexDigest: img.indexDigest,
    configDigest: img.configDigest,
    // Only these three fields: callers may hold richer layer descriptors.
    layers: img.layers.map((l) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType })),
    platform: formatPlatform(img.platform),
    sizeBytes: img.sizeBytes,
    createdAt,
  };
}
