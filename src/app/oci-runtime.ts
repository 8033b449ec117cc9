/**
 * `runtime:` as an OCI image reference, at deploy: an alias for one of this node's arches replaces
 * the canonical name (none: the name passes through), the image is pulled unless the content store
 * has it for one of the node's platforms, and its layers are unpacked now, so a broken layer fails
 * the deploy rather than the first invocation, and that invocation does not wait for the unpack.
 */
import { AgniError } from '../core/errors.js';
import type { ImageConfig, ImageFiles } from '../image/oci/image-config.js';
import { type ImageRootfsResolver, ociImageId } from '../image/oci/image-rootfs.js';
import type { Platform } from '../image/oci/media-types.js';
import { formatPlatform, platformRuns } from '../image/oci/platform.js';
import type { OciImages } from '../image/oci/pull-service.js';
import { formatReference, parseReference } from '../image/oci/reference.js';
import type { OciImageRecord } from '../store/oci-image-repo.js';

/** the aliases of a canonical image name: `arch` is an OCI architecture, with an optional /variant */
export type AliasLookup = (canonical: string) => Promise<{ arch: string; image: string }[]>;

export interface ResolvedRuntime {
  imageId: string;
  /** the reference actually used (an alias's image, or the canonical name) */
  image: string;
  config: ImageConfig;
  /** the image's /etc/passwd and /etc/group, to check `user:` names at deploy */
  files: ImageFiles;
}

function archMatches(alias: string, p: Platform): boolean {
  const [arch, variant] = alias.split('/');
  if (arch !== p.architecture) return false;
  return variant === undefined || variant === (p.variant ?? (p.architecture === 'arm64' ? 'v8' : undefined));
}

/** An AgniError about resolving `image` as the field agni.yaml's `runtime` names; anything else as it is. */
function asRuntimeFieldError(image: string, e: unknown): unknown {
  if (!(e instanceof AgniError)) return e;
  return new AgniError(e.code, `agni.yaml: field \`runtime\` (${image}): ${e.message}`, {
    ...(e.hint ? { hint: e.hint } : {}),
    details: { ...(e.details ?? {}), file: 'agni.yaml', field: 'runtime' },
    cause: e,
  });
}

export class OciRuntime {
  constructor(
    private readonly oci: OciImages,
    private readonly rootfs: ImageRootfsResolver,
    private readonly platforms: Platform[],
    private readonly aliases: AliasLookup = async () => [],
    /**
     * cluster mode: fetches an image recorded by another server (an import, which no registry
     * reference names) by digest from the cluster registry (RegistryCodePublisher.fetchImage)
     */
    private readonly fetchMissing?: (manifestDigest: string, what: string) => Promise<void>,
  ) {}

  async resolve(runtime: string): Promise<ResolvedRuntime> {
    // An image recorded under exactly this name (`agni image import NAME`) before any registry's.
    const imported = await this.oci.repo.get(runtime);
    if (imported) {
      if (this.fetchMissing && !(await this.stored(imported))) {
        await this.fetchMissing(imported.manifestDigest, `image ${runtime}`);
      }
      return this.loadRecord(runtime, imported.manifestDigest);
    }
    let canonical: string;
    try {
      canonical = formatReference(parseReference(runtime));
    } catch (e) {
      throw new AgniError(
        'manifest_invalid',
        `agni.yaml: field \`runtime\`: "${runtime}" is not host, a local image or an image reference`,
        {
          hint: 'use runtime: host, a name from `agni image ls`, or a registry reference such as ghcr.io/org/image:tag',
          details: { file: 'agni.yaml', field: 'runtime' },
          cause: e,
        },
      );
    }
    const aliases = await this.aliases(canonical);
    const first = this.platforms[0];
    const preferred = first ? aliases.find((a) => archMatches(a.arch, first)) : undefined;
    if (preferred) return this.load(preferred.image);
    try {
      return await this.load(canonical);
    } catch (e) {
      if (!(e instanceof AgniError) || e.code !== 'platform_unsupported') throw e;
      // The canonical image fits none of the node's platforms: an alias for an emulated one may.
      for (const p of this.platforms.slice(1)) {
        const a = aliases.find((x) => archMatches(x.arch, p));
        if (a) return this.load(a.image);
      }
      const can = [
        ...((e.details?.platforms as string[] | undefined) ?? []),
        ...aliases.map((a) => `linux/${a.arch}`),
      ];
      throw new AgniError(
        e.code,
        `${e.message}${aliases.length ? `; aliases exist for ${aliases.map((a) => a.arch).join(', ')}` : ''}`,
        {
          ...(e.hint ? { hint: e.hint } : {}),
          details: { ...(e.details ?? {}), platforms: [...new Set(can)] },
          cause: e,
        },
      );
    }
  }

  private async stored(r: OciImageRecord): Promise<boolean> {
    for (const d of [r.manifestDigest, r.configDigest, ...r.layers.map((l) => l.digest)]) {
      if (!(await this.oci.content.has(d))) return false;
    }
    return true;
  }

  private async loadRecord(image: string, manifestDigest: string): Promise<ResolvedRuntime> {
    try {
      const root = await this.rootfs.resolve(manifestDigest);
      if (!this.platforms.some((p) => platformRuns(root.platform, p))) {
        const runs = formatPlatform(root.platform);
        throw new AgniError(
          'platform_unsupported',
          `${image} is a ${runs} image; this node runs ${this.platforms.map(formatPlatform).join(', ')}`,
          {
            hint: 'import it again with --platform for this node, or emulate the arch with qemu-user-static',
            details: { platforms: [runs] },
          },
        );
      }
      return { imageId: ociImageId(manifestDigest), image, config: root.config, files: root.files };
    } catch (e) {
      throw asRuntimeFieldError(image, e);
    }
  }

  private async load(image: string): Promise<ResolvedRuntime> {
    try {
      const rec = await this.oci.ensure(image, this.platforms);
      const root = await this.rootfs.resolve(rec.manifestDigest);
      return { imageId: ociImageId(rec.manifestDigest), image, config: root.config, files: root.files };
    } catch (e) {
      throw asRuntimeFieldError(image, e);
    }
  }
}
