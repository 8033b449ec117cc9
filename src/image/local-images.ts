/**
 * Local images for the core: a root filesystem imported from a tarball or a directory. The
 * registry-backed content store (layers, digests, overlayfs) builds on top of this later.
 */
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

/** runc needs these to exist before the root is made read-only. */
const MOUNT_POINTS = ['proc', 'dev', 'sys', 'tmp', 'fn', 'etc'];

export class LocalImages {
  constructor(
    private readonly store: Store,
    private readonly home: string,
    /** what one imported root filesystem may unpack to (`agni up --max-unpack`, `--max-files`) */
    private readonly limits: UnpackLimits = DEFAULT_LIMITS.unpack,
  ) {}

  async import(name: string, upload: Readable, source: string): Promise<ImageRecord> {
    if (!NAME_RE.test(name) || name === 'host') {
      throw new AgniError(
        'bad_request',
        `image name ${JSON.stringify(name)}: expected lowercase letters, digits and dashes (and not "host")`,
      );
    }
    const id = newId('img');
    const dir = join(this.home, 'images', id);
    const rootfs = join(dir, 'rootfs');
    await mkdir(rootfs, { recursive: true });
    try {
      // extractUpload refuses absolute and `..` paths and writes through links, and creates no device nodes.
      await extractUpload(upload, rootfs, {
        limits: this.limits,
        what: `image ${name}`,
        preserveOwner: true,
      });
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
      const record: ImageRecord = {
        id,
        name,
        rootfs,
        sizeBytes: stats.bytes,
        files: stats.files,
        source,
        createdAt: Date.now(),
      };
      const replaced = await this.store.putImage(record);
      if (replaced) await this.dropIfUnused(replaced);
      return record;
    } catch (e) {
      await removeTree(dir).catch(() => undefined);
      if (e instanceof AgniError) throw e;
      throw new AgniError(
        'bad_request',
        `image ${name}: could not unpack the upload: ${(e as Error).message}`,
        { cause: e },
      );
    }
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
