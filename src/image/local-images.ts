/**
 * `agni image import`: a root filesystem from a tarball or a directory becomes an OCI image of one
 * layer in the content store, recorded under its name like a pulled one, so it deploys, builds on,
 * pushes, pulls and compares like any other image. Root filesystems imported by earlier versions
 * (a directory under $AGNI_HOME/images and a row in the `images` table) are still read, listed,
 * run and removed here: rewriting them into layers at start would copy gigabytes nobody asked to.
 */
import { createReadStream } from 'node:fs';
import { chmod, lstat, mkdir, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { walkTree } from '../app/fs-util.js';
import { AgniError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import { DEFAULT_LIMITS, type UnpackLimits } from '../core/limits.js';
import { NAME_RE } from '../core/manifest.js';
import type { ImageRecord, Store } from '../store/store.js';
import { extractUpload, removeTree } from './extract-upload.js';
import { createdAt } from './oci/build.js';
import { buildRootfsLayer } from './oci/build-layer.js';
import { imageRecord } from './oci/image-record.js';
import { ociImageId } from './oci/image-rootfs.js';
import type { Platform } from './oci/media-types.js';
import { oneLayerImage } from './oci/one-layer-image.js';
import { hostPlatform, parsePlatform } from './oci/platform.js';
import type { OciImages } from './oci/pull-service.js';

/** runc needs these to exist before the root is made read-only. */
const MOUNT_POINTS = ['proc', 'dev', 'sys', 'tmp', 'fn', 'etc'];

function checkName(name: string): void {
  if (!NAME_RE.test(name) || name === 'host') {
    throw new AgniError(
      'bad_request',
      `image name ${JSON.stringify(name)}: expected lowercase letters, digits and dashes (and not "host")`,
    );
  }
}

export class LocalImages {
  constructor(
    private readonly store: Store,
    private readonly home: string,
    /** what one imported root filesystem may unpack to (`agni up --max-unpack`, `--max-files`) */
    private readonly limits: UnpackLimits = DEFAULT_LIMITS.unpack,
    /** where imports go: the content store and image records */
    private readonly oci?: OciImages,
    /** the platform an import records when none is given: the node's own */
    private readonly platform: Platform = hostPlatform(),
    /**
     * cluster mode: puts an imported image where the other servers can fetch it (the cluster
     * registry, RegistryCodePublisher.shareImage) before its record names it
     */
    private readonly share?: (manifestDigest: string, what: string) => Promise<void>,
  ) {}

  /**
   * The upload as an OCI image named `name`; `o.platform` (os/arch[/variant]) is where it runs
   * (default this node's). The answer keeps the old record's shape, its id the image's `oci:` id.
   */
  async import(
    name: string,
    upload: Readable,
    source: string,
    o: { platform?: string } = {},
  ): Promise<ImageRecord> {
    checkName(name);
    let platform: Platform;
    try {
      platform = o.platform ? parsePlatform(o.platform) : this.platform;
    } catch (e) {
      throw new AgniError(
        'bad_request',
        `--platform "${o.platform}": expected os/arch[/variant], e.g. linux/arm64`,
        {
          cause: e,
        },
      );
    }
    const oci = this.oci;
    if (!oci)
      throw new AgniError('internal', 'image import needs the content store (LocalImages without OciImages)');
    const scratch = join(this.home, 'build', newId('imp'));
    const rootfs = join(scratch, 'rootfs');
    await mkdir(rootfs, { recursive: true });
    try {
      const stats = await this.unpackRootfs(name, upload, rootfs);
      // Under the GC gate: a prune must not take the blobs before the record names them.
      const rec = await oci.gate.shared(async () => {
        const layer = await buildRootfsLayer(rootfs, join(scratch, 'layer.tar.gz'));
        await oci.content.ingest(layer.digest, layer.size, async () => ({
          body: createReadStream(join(scratch, 'layer.tar.gz')),
          offset: 0,
        }));
        const img = oneLayerImage(layer, {
          platform,
          created: createdAt(new Date()),
          createdBy: `agni image import ${name}`,
          annotations: { 'org.opencontainers.image.title': name },
        });
        await oci.content.putBytes(img.config, img.configDigest);
        await oci.content.putBytes(img.manifest, img.manifestDigest);
        await this.share?.(img.manifestDigest, `image ${name}`);
        const r = imageRecord(name, { ...img, indexDigest: null });
        await oci.repo.put(r);
        return r;
      });
      // One kind of image per name: an earlier rootfs import of it goes (its files while unpinned).
      const legacy = await this.store.getImage(name);
      if (legacy) {
        await this.store.removeImage(name);
        await this.dropIfUnused(legacy);
      }
      return {
        id: ociImageId(rec.manifestDigest),
        name,
        rootfs: '',
        sizeBytes: stats.bytes,
        files: stats.files,
        source,
        createdAt: rec.createdAt,
      };
    } catch (e) {
      if (e instanceof AgniError) throw e;
      throw new AgniError(
        'bad_request',
        `image ${name}: could not import the upload: ${(e as Error).message}`,
        {
          cause: e,
        },
      );
    } finally {
      await removeTree(scratch).catch(() => undefined);
    }
  }

  /** Extracts the upload into `rootfs` with the mount points runc needs; its file count and bytes. */
  private async unpackRootfs(
    name: string,
    upload: Readable,
    rootfs: string,
  ): Promise<{ files: number; bytes: number }> {
    try {
      // extractUpload refuses absolute and `..` paths and writes through links, and creates no device nodes.
      await extractUpload(upload, rootfs, {
        limits: this.limits,
        what: `image ${name}`,
        preserveOwner: true,
      });
    } catch (e) {
      if (e instanceof AgniError) throw e;
      throw new AgniError(
        'bad_request',
        `image ${name}: could not unpack the upload: ${(e as Error).message}`,
        {
          cause: e,
        },
      );
    }
    for (const m of MOUNT_POINTS) await mkdir(join(rootfs, m), { recursive: true }).catch(() => undefined);
    // runc copies the mount point's mode onto the /tmp tmpfs; nobody must be able to write there.
    // Only a real directory: the rootfs's own `tmp` may be a symlink, which chmod would follow on the host.
    const tmp = join(rootfs, 'tmp');
    if ((await lstat(tmp).catch(() => undefined))?.isDirectory()) await chmod(tmp, 0o1777);
    const stats = await walkTree(rootfs);
    if (stats.files <= MOUNT_POINTS.length) {
      throw new AgniError('bad_request', `image ${name}: the uploaded root filesystem is empty`, {
        hint: 'pass a rootfs tarball or a directory with the files the function needs (e.g. bin/sh)',
      });
    }
    return stats;
  }

  async resolveRootfs(id: string): Promise<string | undefined> {
    return (await this.store.getImageById(id))?.rootfs ?? join(this.home, 'images', id, 'rootfs');
  }

  async remove(name: string): Promise<void> {
    const img = await this.store.getImage(name);
    if (!img)
      throw new AgniError('image_not_found', `no image named ${name}`, {
        hint: 'list images with `agni image ls`',
      });
    if ((await this.store.imageIdsInUse()).has(img.id)) {
      throw new AgniError('conflict', `image ${name} is used by deployed function versions`, {
        hint: 'remove those functions first (`agni rm NAME`)',
      });
    }
    await this.store.removeImage(name);
    await rm(join(this.home, 'images', img.id), { recursive: true, force: true });
  }

  /** Deletes image directories no record names and no version pins (left by re-imports). */
  async gc(): Promise<number> {
    const keep = await this.store.imageIdsInUse();
    for (const img of await this.store.listImages()) keep.add(img.id);
    let n = 0;
    for (const id of await readdir(join(this.home, 'images')).catch(() => [] as string[])) {
      if (keep.has(id)) continue;
      await rm(join(this.home, 'images', id), { recursive: true, force: true });
      n++;
    }
    return n;
  }

  /** An image replaced by a re-import stays on disk while versions still pin it. */
  private async dropIfUnused(img: ImageRecord): Promise<void> {
    if (!(await this.store.imageIdsInUse()).has(img.id))
      await rm(join(this.home, 'images', img.id), { recursive: true, force: true });
  }
}
