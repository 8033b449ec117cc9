/**
 * What a version needs of a node, for placement: its image's platforms and the backends that can
 * run it. The host runtime runs the node's own programs (any node, any backend); an OCI image needs
 * an isolated backend (runc: the process backend has no root of its own, src/agent/agent.ts) and a
 * node whose platform one of its manifests runs on.
 */
import type { PlacementNeed } from '../core/placement.js';
import { OCI_ID_PREFIX } from '../image/oci/image-rootfs.js';
import type { OciImageRepository } from '../store/oci-image-repo.js';
import type { VersionRecord } from '../store/store.js';
import { warmKey } from './node-heartbeat.js';

/** the platforms (os/arch[/variant]) the image `imageId` has; undefined when unknown */
export type ImagePlatforms = (imageId: string) => Promise<readonly string[] | undefined>;

export type VersionNeeds = (v: VersionRecord) => Promise<PlacementNeed>;

export function versionNeeds(platformsOf: ImagePlatforms): VersionNeeds {
  return async (v) => {
    const base: PlacementNeed = {
      key: warmKey(v.function, v.version),
      ...(v.manifest.placement ? { placement: v.manifest.placement } : {}),
      ...(v.manifest.volumes?.length ? { volumes: v.manifest.volumes.map((m) => m.name) } : {}),
    };
    if (v.imageId === 'host') return base;
    const platforms = await platformsOf(v.imageId);
    // Unknown platforms (a local image): treated as the node's own, like the host runtime.
    return {
      ...base,
      ...(v.imageId.startsWith(OCI_ID_PREFIX) ? { backends: ['runc'] } : {}),
      ...(platforms ? { imagePlatforms: platforms } : {}),
    };
  };
}

/**
 * Image platforms from the server's records of pulled images: a manifest's own platform, or every
 * platform recorded for the index it came from. Records never change for a digest, so each answer
 * is kept. (Code distribution may supply a fuller source, e.g. the index in the cluster registry.)
 */
export function recordedImagePlatforms(repo: Pick<OciImageRepository, 'list'>): ImagePlatforms {
  const known = new Map<string, readonly string[]>();
  return async (imageId) => {
    if (!imageId.startsWith(OCI_ID_PREFIX)) return undefined;
    const have = known.get(imageId);
    if (have) return have;
    const digest = imageId.slice(OCI_ID_PREFIX.length);
    const all = await repo.list();
    const rec = all.find((r) => r.manifestDigest === digest);
    if (!rec) return undefined;
    const platforms = rec.indexDigest
      ? [...new Set(all.filter((r) => r.indexDigest === rec.indexDigest).map((r) => r.platform))]
      : [rec.platform];
    known.set(imageId, platforms);
    return platforms;
  };
}
