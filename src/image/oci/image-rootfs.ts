/**
 * What a sandbox on an OCI image needs from the content store: the image's layers unpacked (each
 * once, shared by every image and sandbox), top first for the overlay, plus its config and platform.
 */
import { stat } from 'node:fs/promises';
import { AgniError } from '../../core/errors.js';
import type { UnpackLimits } from '../../core/limits.js';
import type { ContentStore } from './content-store.js';
import { type ImageConfig, type ImageFiles, parseImageConfig } from './image-config.js';
import { type Platform, parseManifest } from './media-types.js';
import { readImageFile } from './passwd.js';
import { ensureLayer } from './unpack.js';

export interface ImageRootfs {
  manifestDigest: string;
  /** unpacked layer directories, top first (overlayfs lowerdir order) */
  layers: string[];
  config: ImageConfig;
  /** the image's /etc/passwd and /etc/group, for `User` names (read once, not per sandbox) */
  files: ImageFiles;
  platform: Platform;
}

/** `oci:<manifest digest>` is how a function version names an image from the content store. */
export const OCI_ID_PREFIX = 'oci:';

export function ociImageId(manifestDigest: string): string {
  return `${OCI_ID_PREFIX}${manifestDigest}`;
}

export function manifestDigestOf(imageId: string): string | undefined {
  return imageId.startsWith(OCI_ID_PREFIX) ? imageId.slice(OCI_ID_PREFIX.length) : undefined;
}

async function allExist(dirs: string[]): Promise<boolean> {
  const found = await Promise.all(
    dirs.map((d) =>
      stat(d).then(
        (st) => st.isDirectory(),
        () => false,
      ),
    ),
  );
  return found.every(Boolean);
}

export class ImageRootfsResolver {
  /** layers never change under a digest, so a resolved image is kept for the process's life */
  private readonly resolved = new Map<string, Promise<ImageRootfs>>();

  constructor(
    private readonly home: string,
    private readonly content: ContentStore,
    /** what one layer may unpack to (`agni up --max-unpack`, `--max-files`) */
    private readonly limits?: UnpackLimits,
  ) {}

  async resolve(manifestDigest: string): Promise<ImageRootfs> {
    const have = this.resolved.get(manifestDigest);
    // `agni image rm|prune` may have removed unpacked layers since: then unpack them again.
    if (have && (await allExist((await have).layers))) return have;
    if (have && this.resolved.get(manifestDigest) === have) this.resolved.delete(manifestDigest);
    const again = this.resolved.get(manifestDigest);
    if (again) return again;
    const p = this.load(manifestDigest);
    this.resolved.set(manifestDigest, p);
    // A failure (e.g. a pruned blob) is not cached: the next call tries again.
    p.catch(() => this.resolved.delete(manifestDigest));
    return p;
  }

  private async load(digest: string): Promise<ImageRootfs> {
    const bytes = await this.content.read(digest).catch((e) => {
      throw new AgniError('image_not_found', `image ${digest} is not in this node's content store`, {
        hint: 'pull it again with `agni image pull REF` and redeploy',
        cause: e,
      });
    });
    const parsed = parseManifest(bytes, undefined, `manifest ${digest}`);
    if (parsed.kind !== 'manifest') {
      throw new AgniError('manifest_invalid', `${digest} is an image index, not a single-platform manifest`);
    }
    const m = parsed.manifest;
    const configBlob = JSON.parse((await this.content.read(m.config.digest)).toString('utf8')) as {
      os?: string;
      architecture?: string;
      variant?: string;
    };
    const dirs: string[] = [];
    for (const l of m.layers) {
      if (!(await this.content.has(l.digest))) {
        throw new AgniError(
          'image_not_found',
          `layer ${l.digest} of image ${digest} is not in the content store`,
          {
            hint: 'pull the image again with `agni image pull REF`',
          },
        );
      }
      dirs.push(
        await ensureLayer(this.home, l.digest, this.content.path(l.digest), l.mediaType, this.limits),
      );
    }
    const layers = dirs.reverse();
    const [passwd, group] = await Promise.all([
      readImageFile(layers, 'etc/passwd'),
      readImageFile(layers, 'etc/group'),
    ]);
    return {
      manifestDigest: digest,
      layers,
      config: parseImageConfig(configBlob),
      files: { ...(passwd ? { passwd } : {}), ...(group ? { group } : {}) },
      platform: {
        os: configBlob.os ?? 'linux',
        architecture: configBlob.architecture ?? 'unknown',
        ...(configBlob.variant ? { variant: configBlob.variant } : {}),
      },
    };
  }
}
