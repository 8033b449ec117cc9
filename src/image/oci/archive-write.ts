/**
 * `agni image save`: a stored image as an OCI layout (a tar of one: `oci-layout`, `index.json`,
 * `blobs/sha256/...`), which is also the oci-archive form, or as a docker-archive in the
 * combined form Docker 25 writes: that same layout plus a `manifest.json` whose Config and
 * Layers point into blobs/, which `docker load` (old and new), podman and skopeo read. Layers
 * are written as stored (compressed ones stay compressed: docker load and skopeo decompress).
 * A record whose index is whole in the store exports the index (every platform); otherwise only
 * its own platform's manifest.
 */
import { stat } from 'node:fs/promises';
import { AgniError } from '../../core/errors.js';
import type { OciImageRecord } from '../../store/oci-image-repo.js';
import type { ContentStore } from './content-store.js';
import { type Descriptor, MT, parseManifest } from './media-types.js';
import { DOCKER_HUB, parseReference } from './reference.js';
import { sortEntries, type TarEntry, tarSize, tarStream } from './tar-write.js';

export const ARCHIVE_FORMATS = ['oci', 'oci-archive', 'docker-archive'] as const;
export type ArchiveFormat = (typeof ARCHIVE_FORMATS)[number];

export interface SavedArchive {
  name: string;
  format: ArchiveFormat;
  /** what index.json points at: the index when it is exported whole, else the manifest */
  topDigest: string;
  manifestDigest: string;
  blobs: number;
  /** exact length of the tar */
  size: number;
  stream(): AsyncGenerator<Buffer>;
}

/** The name as `docker images` shows it (RepoTags): Docker Hub's prefixes left out. */
export function dockerRepoTag(name: string): string | undefined {
  const r = parseReference(name);
  if (!r.tag || r.digest) return undefined;
  if (r.registry !== DOCKER_HUB) return `${r.registry}/${r.repository}:${r.tag}`;
  return `${r.repository.replace(/^library\//, '')}:${r.tag}`;
}

const blobPath = (digest: string) => `blobs/sha256/${digest.slice(7)}`;

export async function saveArchive(
  content: ContentStore,
  rec: OciImageRecord,
  format: ArchiveFormat,
): Promise<SavedArchive> {
  const sizes = new Map<string, number>();
  const have = async (d: Descriptor): Promise<boolean> => {
    const s = await stat(content.path(d.digest)).catch(() => undefined);
    if (!s) return false;
    if (s.size !== d.size) {
      throw new AgniError(
        'internal',
        `blob ${d.digest}: ${s.size} bytes in the content store, ${d.size} expected`,
      );
    }
    sizes.set(d.digest, d.size);
    return true;
  };
  /** a manifest's blobs, or undefined when one is missing */
  const manifestBlobs = async (d: Descriptor): Promise<Descriptor[] | undefined> => {
    if (!(await have(d))) return undefined;
    const p = parseManifest(await content.read(d.digest), d.mediaType, `manifest ${d.digest}`);
    if (p.kind !== 'manifest') return undefined;
    const all = [d, p.manifest.config, ...p.manifest.layers];
    for (const b of all) if (!(await have(b))) return undefined;
    return all;
  };

  const mbytes = await content.read(rec.manifestDigest);
  const m = parseManifest(mbytes, undefined, `the manifest of ${rec.name}`);
  if (m.kind !== 'manifest') throw new AgniError('manifest_invalid', `${rec.name}: its manifest is an index`);
  const own: Descriptor = {
    mediaType: m.manifest.mediaType,
    digest: rec.manifestDigest,
    size: mbytes.length,
  };
  const ownBlobs = await manifestBlobs(own);
  if (!ownBlobs) {
    throw new AgniError('not_found', `${rec.name}: some of its blobs are not in the content store`, {
      hint: `pull or load ${rec.name} again`,
    });
  }
  let top = own;
  let blobs = ownBlobs;
  if (rec.indexDigest && (await content.has(rec.indexDigest))) {
    const ibytes = await content.read(rec.indexDigest);
    const ip = parseManifest(ibytes, undefined, `the index of ${rec.name}`);
    if (ip.kind === 'index') {
      const children = await Promise.all(ip.index.manifests.map((c) => manifestBlobs(c)));
      if (children.every((c) => c !== undefined)) {
        top = { mediaType: ip.index.mediaType, digest: rec.indexDigest, size: ibytes.length };
        blobs = [top, ...children.flat()];
        sizes.set(top.digest, top.size);
      }
    }
  }

  const tag = parseReference(rec.name).tag;
  const index = {
    schemaVersion: 2,
    mediaType: MT.ociIndex,
    manifests: [
      {
        mediaType: top.mediaType,
        digest: top.digest,
        size: top.size,
        annotations: {
          'io.containerd.image.name': rec.name,
          ...(tag ? { 'org.opencontainers.image.ref.name': tag } : {}),
        },
      },
    ],
  };
  const json = (v: unknown) => Buffer.from(JSON.stringify(v));
  const file = (path: string, bytes: Buffer): TarEntry => ({ path, type: 'File', size: bytes.length, bytes });
  const digests = [...new Set(blobs.map((b) => b.digest))];
  const entries: TarEntry[] = [
    { path: 'blobs/', type: 'Directory' },
    { path: 'blobs/sha256/', type: 'Directory' },
    ...digests.map(
      (d): TarEntry => ({ path: blobPath(d), type: 'File', size: sizes.get(d)!, file: content.path(d) }),
    ),
    file('index.json', json(index)),
    file('oci-layout', json({ imageLayoutVersion: '1.0.0' })),
  ];
  if (format === 'docker-archive') {
    const repoTag = dockerRepoTag(rec.name);
    entries.push(
      file(
        'manifest.json',
        json([
          {
            Config: blobPath(m.manifest.config.digest),
            RepoTags: repoTag ? [repoTag] : [],
            Layers: m.manifest.layers.map((l) => blobPath(l.digest)),
          },
        ]),
      ),
    );
  }
  const sorted = sortEntries(entries);
  return {
    name: rec.name,
    format,
    topDigest: top.digest,
    manifestDigest: rec.manifestDigest,
    blobs: digests.length,
    size: tarSize(sorted),
    stream: () => tarStream(sorted),
  };
}
