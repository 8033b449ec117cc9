/**
 * `agni image ls|inspect|rm|prune|similarity` on the server: local rootfs images and OCI images
 * (pulled or built) as one list, what they cost and share, and their safe removal. A removal or
 * prune never takes what a function version still pins (rootfs ids, `oci:<manifest digest>`), and
 * holds the OCI gate exclusively so no pull loses blobs it wrote but has not recorded yet.
 */
import { readFile, stat } from 'node:fs/promises';
import type { Kysely } from 'kysely';
import { AgniError } from '../core/errors.js';
import type { ImageUser } from '../store/image-usage.js';
import { imageUsers } from '../store/image-usage.js';
import type { OciImageRecord } from '../store/oci-image-repo.js';
import type { Database } from '../store/schema.js';
import type { ImageRecord, Store } from '../store/store.js';
import type { LocalImages } from './local-images.js';
import { type ImageConfig, parseImageConfig } from './oci/image-config.js';
import { manifestDigestOf } from './oci/image-rootfs.js';
import { type InventoryTotals, inventory, layerOwners } from './oci/inventory.js';
import { type ImageIndex, parseManifest } from './oci/media-types.js';
import { type PruneReport, pruneContent } from './oci/prune.js';
import type { OciImages } from './oci/pull-service.js';
import { formatReference, parseReference } from './oci/reference.js';
import { type PinnedImage, type References, referencedSet } from './oci/references.js';
import { type SimilarityMatrix, similarityMatrix } from './oci/similarity.js';
import { layerDir } from './oci/unpack.js';

export type ImageKind = 'rootfs' | 'oci';

export interface ImageEntry {
  kind: ImageKind;
  name: string;
  /** OCI: the platform pulled first, then the others its index offers; rootfs: none known */
  architectures: string[];
  sizeBytes: number;
  /** bytes no other image needs: what removing this one alone frees */
  uniqueBytes: number;
  sharedBytes: number;
  layerCount: number;
  createdAt: number;
  /** function versions that pin the image, e.g. "wordcount v3" */
  usedBy: string[];
  /** OCI */
  manifestDigest?: string;
  indexDigest?: string | null;
  configDigest?: string;
  platform?: string;
  /** rootfs */
  id?: string;
  files?: number;
  source?: string;
}

export interface ListTotals extends InventoryTotals {
  rootfsImages: number;
  /** unpacked bytes of the local rootfs images */
  rootfsBytes: number;
  /** blob bytes nothing references: what `agni image prune` frees from blobs/ */
  reclaimableBytes: number;
}

export interface LayerInspection {
  digest: string;
  size: number;
  mediaType: string;
  present: boolean;
  unpacked: boolean;
  /** other images with this layer */
  sharedWith: string[];
}

export type Inspection =
  | (ImageEntry & {
      kind: 'oci';
      /** the config's `created` (RFC 3339), when it has one */
      created: string | null;
      config: ImageConfig;
      layers: LayerInspection[];
    })
  | (ImageEntry & { kind: 'rootfs'; rootfs: string });

export interface RemoveResult {
  name: string;
  kind: ImageKind;
  /** other names that still point at the same manifest (nothing was freed then) */
  stillNamedBy: string[];
  freedBytes: number;
  blobs: number;
  layerDirs: number;
}

type Resolved = { kind: 'rootfs'; img: ImageRecord } | { kind: 'oci'; rec: OciImageRecord };

export interface ImageInsightDeps {
  home: string;
  store: Store;
  db: Kysely<Database>;
  local: LocalImages;
  oci: OciImages;
}

function usersText(users: ImageUser[]): string[] {
  return users.map((u) => `${u.function} v${u.version}`);
}

export class ImageInsight {
  constructor(private readonly d: ImageInsightDeps) {}

  private async blobSizes(): Promise<Map<string, number>> {
    const sizes = new Map<string, number>();
    for (const digest of await this.d.oci.content.list()) {
      const s = await stat(this.d.oci.content.path(digest)).catch(() => undefined);
      if (s) sizes.set(digest, s.size);
    }
    return sizes;
  }

  private async readBlob(digest: string): Promise<Buffer | undefined> {
    return readFile(this.d.oci.content.path(digest)).catch(() => undefined);
  }

  private async indexes(records: OciImageRecord[]): Promise<Map<string, ImageIndex>> {
    const out = new Map<string, ImageIndex>();
    for (const r of records) {
      if (!r.indexDigest || out.has(r.indexDigest)) continue;
      const bytes = await this.readBlob(r.indexDigest);
      if (!bytes) continue;
      try {
        const p = parseManifest(bytes, undefined, `index of ${r.name}`);
        if (p.kind === 'index') out.set(r.indexDigest, p.index);
      } catch {
        // A damaged index only loses the extra platforms in the listing.
      }
    }
    return out;
  }

  private static pinned(users: ImageUser[]): PinnedImage[] {
    const out: PinnedImage[] = [];
    for (const u of users) {
      const digest = manifestDigestOf(u.imageId);
      if (digest) out.push({ manifestDigest: digest, by: `${u.function} v${u.version}` });
    }
    return out;
  }

  private async references(records: OciImageRecord[], users: ImageUser[]): Promise<References> {
    return referencedSet(records, ImageInsight.pinned(users), (d) => this.readBlob(d));
  }

  async list(): Promise<{ images: ImageEntry[]; totals: ListTotals }> {
    const [records, locals, users, blobSizes] = await Promise.all([
      this.d.oci.repo.list(),
      this.d.store.listImages(),
      imageUsers(this.d.db),
      this.blobSizes(),
    ]);
    const inv = inventory({ records, blobSizes, indexes: await this.indexes(records) });
    const refs = await this.references(records, users);
    const images: ImageEntry[] = [
      ...locals.map((i) => this.rootfsEntry(i, users)),
      ...records.map((r, k): ImageEntry => {
        const u = inv.images[k]!;
        return {
          kind: 'oci',
          name: r.name,
          architectures: u.architectures,
          sizeBytes: u.sizeBytes,
          uniqueBytes: u.uniqueBytes,
          sharedBytes: u.sharedBytes,
          layerCount: u.layers,
          createdAt: r.createdAt,
          usedBy: usersText(users.filter((x) => x.imageId === `oci:${r.manifestDigest}`)),
          manifestDigest: r.manifestDigest,
          indexDigest: r.indexDigest,
          configDigest: r.configDigest,
          platform: r.platform,
        };
      }),
    ].sort((a, b) => a.name.localeCompare(b.name) || a.kind.localeCompare(b.kind));
    let reclaimableBytes = 0;
    for (const [d, size] of blobSizes) if (!refs.blobs.has(d)) reclaimableBytes += size;
    return {
      images,
      totals: {
        ...inv.totals,
        rootfsImages: locals.length,
        rootfsBytes: locals.reduce((n, i) => n + i.sizeBytes, 0),
        reclaimableBytes,
      },
    };
  }

  private rootfsEntry(i: ImageRecord, users: ImageUser[]): ImageEntry {
    return {
      kind: 'rootfs',
      name: i.name,
      architectures: [],
      sizeBytes: i.sizeBytes,
      uniqueBytes: i.sizeBytes,
      sharedBytes: 0,
      layerCount: 0,
      createdAt: i.createdAt,
      usedBy: usersText(users.filter((u) => u.imageId === i.id)),
      id: i.id,
      files: i.files,
      source: i.source,
    };
  }

  /** An OCI record by its exact name, else by the name's normalised reference (busybox → docker.io/library/busybox:latest). */
  private async findOci(name: string): Promise<OciImageRecord | undefined> {
    const exact = await this.d.oci.repo.get(name);
    if (exact) return exact;
    let normal: string;
    try {
      normal = formatReference(parseReference(name));
    } catch {
      return undefined;
    }
    return normal === name ? undefined : this.d.oci.repo.get(normal);
  }

  private async resolve(name: string, kind?: ImageKind): Promise<Resolved> {
    const img = kind === 'oci' ? undefined : await this.d.store.getImage(name);
    const rec = kind === 'rootfs' ? undefined : await this.findOci(name);
    if (img && rec) {
      throw new AgniError(
        'conflict',
        `"${name}" names both a local rootfs image and the OCI image ${rec.name}`,
        {
          hint: 'say which one with --kind rootfs or --kind oci',
          details: { kinds: ['rootfs', 'oci'], oci: rec.name },
        },
      );
    }
    if (img) return { kind: 'rootfs', img };
    if (rec) return { kind: 'oci', rec };
    throw new AgniError('image_not_found', `no ${kind ? `${kind} ` : ''}image named ${name}`, {
      hint: 'list images with `agni image ls`',
    });
  }

  async inspect(name: string, kind?: ImageKind): Promise<Inspection> {
    const found = await this.resolve(name, kind);
    const { images } = await this.list();
    const users = await imageUsers(this.d.db);
    if (found.kind === 'rootfs') {
      return { ...this.rootfsEntry(found.img, users), kind: 'rootfs', rootfs: found.img.rootfs };
    }
    const rec = found.rec;
    const entry = images.find((i) => i.kind === 'oci' && i.name === rec.name)!;
    const configBytes = await this.readBlob(rec.configDigest);
    let blob: Record<string, unknown> = {};
    try {
      blob = configBytes ? (JSON.parse(configBytes.toString('utf8')) as Record<string, unknown>) : {};
    } catch {
      // A config that is not JSON shows as empty; the digest still tells which one it was.
    }
    const owners = layerOwners(await this.d.oci.repo.list());
    const layers: LayerInspection[] = [];
    for (const l of rec.layers) {
      layers.push({
        digest: l.digest,
        size: l.size,
        mediaType: l.mediaType,
        present: await this.d.oci.content.has(l.digest),
        unpacked: await stat(layerDir(this.d.home, l.digest)).then(
          (s) => s.isDirectory(),
          () => false,
        ),
        sharedWith: (owners.get(l.digest) ?? []).filter((n) => n !== rec.name),
      });
    }
    return {
      ...entry,
      kind: 'oci',
      created: typeof blob.created === 'string' ? blob.created : null,
      config: parseImageConfig(blob),
      layers,
    };
  }

  /**
   * Removes an image record. Refused while a function version pins it (naming them), unless another
   * name still points at the same manifest. Then frees the removed image's blobs and unpacked
   * layers that nothing else references.
   */
  async remove(name: string, kind?: ImageKind): Promise<RemoveResult> {
    const found = await this.resolve(name, kind);
    if (found.kind === 'rootfs') {
      const users = await imageUsers(this.d.db);
      const pinning = users.filter((u) => u.imageId === found.img.id);
      if (pinning.length) throw inUse(found.img.name, pinning);
      await this.d.local.remove(found.img.name);
      return {
        name: found.img.name,
        kind: 'rootfs',
        stillNamedBy: [],
        freedBytes: found.img.sizeBytes,
        blobs: 0,
        layerDirs: 0,
      };
    }
    return this.d.oci.gate.exclusive(async () => {
      // Read again under the gate: a pull may have replaced the record meanwhile.
      const rec = await this.d.oci.repo.get(found.rec.name);
      if (!rec) throw new AgniError('image_not_found', `no image named ${name}`);
      const others = (await this.d.oci.repo.list()).filter(
        (r) => r.name !== rec.name && r.manifestDigest === rec.manifestDigest,
      );
      const users = await imageUsers(this.d.db);
      const pinning = users.filter((u) => u.imageId === `oci:${rec.manifestDigest}`);
      if (pinning.length && others.length === 0) throw inUse(rec.name, pinning);
      await this.d.oci.remove(rec.name);
      const refs = await this.references(await this.d.oci.repo.list(), users);
      const only = await referencedSet([rec], [], (d) => this.readBlob(d));
      const r = await pruneContent({ home: this.d.home, content: this.d.oci.content, refs, only });
      return {
        name: rec.name,
        kind: 'oci',
        stillNamedBy: others.map((o) => o.name),
        freedBytes: r.freedBytes,
        blobs: r.blobs,
        layerDirs: r.layerDirs,
      };
    });
  }

  async prune(o: { all?: boolean; dryRun?: boolean } = {}): Promise<PruneReport> {
    return this.d.oci.gate.exclusive(async () => {
      const refs = await this.references(await this.d.oci.repo.list(), await imageUsers(this.d.db));
      return pruneContent({ home: this.d.home, content: this.d.oci.content, refs, ...o });
    });
  }

  /** Jaccard similarity of the named OCI images' layers (all of them when none are named). */
  async similarity(names: string[] = []): Promise<SimilarityMatrix> {
    let records: OciImageRecord[];
    if (names.length === 0) records = await this.d.oci.repo.list();
    else {
      records = [];
      for (const n of names) {
        const rec = await this.findOci(n);
        if (!rec) {
          const local = await this.d.store.getImage(n);
          throw local
            ? new AgniError('bad_request', `${n} is a local rootfs image: it has no layers to compare`, {
                hint: 'similarity compares OCI images (pulled or built); see `agni image ls`',
              })
            : new AgniError('image_not_found', `no OCI image named ${n}`, {
                hint: 'list images with `agni image ls`',
              });
        }
        if (!records.some((r) => r.name === rec.name)) records.push(rec);
      }
    }
    return similarityMatrix(records.map((r) => ({ name: r.name, layers: r.layers.map((l) => l.digest) })));
  }
}

function inUse(name: string, users: ImageUser[]): AgniError {
  const fns = [...new Set(users.map((u) => u.function))];
  return new AgniError('conflict', `image ${name} is used by ${usersText(users).join(', ')}`, {
    hint: `remove ${fns.length > 1 ? 'those functions' : 'the function'} first: ${fns.map((f) => `agni rm ${f}`).join('; ')}`,
    details: { usedBy: users.map((u) => ({ function: u.function, version: u.version })) },
  });
}
