/**
 * `agni image load`: images from `docker save`/`podman save` tarballs, OCI archives and OCI
 * layouts (a directory arrives as a tar of it). Three steps, so a bad archive stores nothing:
 * stage (stream every file to content/ingest/load-*, hashing it; OCI blobs are checked against
 * their names as they end), plan (what the archive holds, every path and blob checked), commit
 * (blobs into the content store through ContentStore.ingest/putBytes, manifests last, then the
 * records). Nothing is held in memory but manifests and configs.
 */
import { randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { link, readdir, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { AgniError } from '../../core/errors.js';
import type { OciImageRecord, OciImageRepository } from '../../store/oci-image-repo.js';
import { type ArchivePlan, type PlannedBlob, planArchive } from './archive-plan.js';
import { stageArchive } from './archive-stage.js';
import { type ContentStore, pidAlive } from './content-store.js';
import { imageRecord } from './image-record.js';
import type { Platform } from './media-types.js';

export interface LoadOptions {
  /** name the only image, or pick the image of several that carries this name */
  name?: string;
  /** what this node runs, best first: an index's record points at the first it offers */
  platforms: Platform[];
}

export interface LoadResult {
  format: ArchivePlan['format'];
  images: OciImageRecord[];
}

/** Staging directories a crashed server left behind. */
async function removeStaleStaging(ingest: string): Promise<void> {
  for (const n of await readdir(ingest).catch(() => [] as string[])) {
    const m = /^load-(\d+)-/.exec(n);
    if (m && Number(m[1]) !== process.pid && !pidAlive(Number(m[1]))) {
      await rm(join(ingest, n), { recursive: true, force: true });
    }
  }
}

/**
 * Moves a staged file into the content store through ContentStore.ingest, which hashes it once
 * more before the rename. The file is hard-linked to where ingest resumes from (its .part), so a
 * 1 GB layer is read again but not written again; without the link, ingest copies it.
 */
async function commitBlob(content: ContentStore, b: PlannedBlob): Promise<void> {
  if (b.bytes) {
    await content.putBytes(b.bytes, b.digest);
    return;
  }
  if (await content.has(b.digest)) return;
  const file = b.staged?.file;
  if (!file) {
    throw new AgniError('conflict', `blob ${b.digest} left the content store while the archive was loading`, {
      hint: 'an image removal or prune ran at the same time; load the archive again',
    });
  }
  const open = async (offset: number) => ({ body: createReadStream(file, { start: offset }), offset });
  await link(file, content.partPath(b.digest)).catch(() => undefined);
  try {
    await content.ingest(b.digest, b.size, open);
  } catch (e) {
    // A stale .part of an interrupted pull was there first and did not fit: ingest removed it.
    if (!(e as AgniError).details?.expected) throw e;
    await content.ingest(b.digest, b.size, open);
  }
}

export async function loadArchive(
  content: ContentStore,
  repo: OciImageRepository,
  input: Readable,
  o: LoadOptions,
): Promise<LoadResult> {
  const ingest = join(content.root, 'ingest');
  await removeStaleStaging(ingest);
  const dir = join(ingest, `load-${process.pid}-${randomBytes(6).toString('hex')}`);
  try {
    const staged = await stageArchive(input, { dir, has: (d) => content.has(d) });
    const plan = await planArchive(
      { ...staged, read: (f) => (f.file ? readFile(f.file) : content.read(f.digest)) },
      o,
    );
    const blobs = [...plan.blobs.values()].sort((a, b) => a.rank - b.rank);
    for (const b of blobs) await commitBlob(content, b);
    const now = Date.now();
    const images: OciImageRecord[] = [];
    for (const img of plan.images) {
      for (const name of img.names) {
        const r = imageRecord(name, img, now);
        await repo.put(r);
        images.push(r);
      }
    }
    return { format: plan.format, images };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
