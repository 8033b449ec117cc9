/**
 * Whether a file or directory is an image archive (docker save, OCI layout) rather than a root
 * filesystem, so `agni image import` can send people to `agni image load`. A tar is read only
 * until its entries decide it: a root filesystem's first entries (`bin/`, `usr/...`) fit no image
 * archive layout.
 */
import { createReadStream } from 'node:fs';
import { readdir } from 'node:fs/promises';
import { Parser, type ReadEntry } from 'tar';
import { AgniError } from '../core/errors.js';
import { fitsImageArchive, normaliseArchivePath } from '../image/oci/archive-paths.js';

const MARKERS = new Set(['oci-layout', 'manifest.json']);

async function tarIsImageArchive(file: string): Promise<boolean> {
  const input = createReadStream(file);
  const parser = new Parser();
  return new Promise<boolean>((resolve) => {
    let decided = false;
    const decide = (v: boolean) => {
      if (decided) return;
      decided = true;
      input.destroy();
      resolve(v);
    };
    parser.on('entry', (e: ReadEntry) => {
      e.resume();
      const path = normaliseArchivePath(e.path);
      if (path === undefined || !fitsImageArchive(path, e.type === 'Directory')) return decide(false);
      if (MARKERS.has(path)) decide(true);
    });
    parser.on('end', () => decide(false));
    parser.on('error', () => decide(false));
    input.on('error', () => decide(false));
    input.pipe(parser as unknown as NodeJS.WritableStream);
  });
}

export async function isImageArchive(path: string, isDirectory: boolean): Promise<boolean> {
  if (!isDirectory) return tarIsImageArchive(path);
  const names = new Set(await readdir(path).catch(() => [] as string[]));
  return (
    names.has('oci-layout') || names.has('manifest.json') || (names.has('index.json') && names.has('blobs'))
  );
}

/** For `agni image import`: refuses an image archive with a pointer to `agni image load`. */
export async function refuseImageArchive(path: string, full: string, isDirectory: boolean): Promise<void> {
  if (await isImageArchive(full, isDirectory)) {
    throw new AgniError(
      'bad_request',
      `${path} is an image archive (docker save or an OCI layout), not a root filesystem`,
      {
        hint: `load it with \`agni image load ${path}\``,
      },
    );
  }
}
