/**
 * Where a version's root filesystem comes from on this node: a local rootfs image (a directory),
 * or an OCI image from the content store (unpacked layers and a config). Placement is refused here
 * when the image's platform is not one this node runs, naming the platforms involved.
 */
import { AgniError } from '../core/errors.js';
import type { LocalImages } from '../image/local-images.js';
import { type ImageRootfs, type ImageRootfsResolver, manifestDigestOf } from '../image/oci/image-rootfs.js';
import type { Platform } from '../image/oci/media-types.js';
import { formatPlatform, platformRuns } from '../image/oci/platform.js';

export type ResolvedImage = string | ImageRootfs;

/** root filesystems imported before images were OCI images (src/image/local-images.ts) */
export type LegacyRootfs = Pick<LocalImages, 'resolveRootfs'>;

export class NodeImageSource {
  constructor(
    /** absent on a cluster agent: it has no image records, and fetches every image by digest */
    private readonly local: LegacyRootfs | undefined,
    private readonly oci: ImageRootfsResolver,
    private readonly platforms: Platform[],
    private readonly node: string,
  ) {}

  async resolve(imageId: string, what: string): Promise<ResolvedImage | undefined> {
    const digest = manifestDigestOf(imageId);
    if (!digest) return this.local?.resolveRootfs(imageId);
    const img = await this.oci.resolve(digest);
    if (!this.platforms.some((p) => platformRuns(img.platform, p))) {
      const runs = formatPlatform(img.platform);
      throw new AgniError(
        'platform_unsupported',
        `${what} can run on ${runs} only; node ${this.node} runs ${this.platforms.map(formatPlatform).join(', ')}`,
        {
          hint: 'redeploy on a multi-platform image or an alias for this node (agni image alias set), or emulate the arch with qemu-user-static',
          details: { platforms: [runs], node: this.node },
        },
      );
    }
    return img;
  }
}
