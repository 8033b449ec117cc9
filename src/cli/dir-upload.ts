/**
 * What `agni deploy DIR`, `agni build DIR` and `agni image import NAME DIR` send: the directory as
 * a tar, symlinks stored as symlinks (never followed; an absolute one resolves inside the sandbox).
 * A function directory leaves out what its `.agniignore` (gitignore syntax) names, after the
 * defaults of upload-ignore.ts; a root filesystem is sent whole. Sockets, FIFOs and devices are
 * never sent.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import ignore from 'ignore';
import { create } from 'tar';
import { AgniError } from '../core/errors.js';
import { listDir } from '../image/dir-list.js';
import { DEFAULT_IGNORE, IGNORE_FILE } from './upload-ignore.js';

export interface DirUpload {
  body: Readable;
  /** paths left out by the ignore rules; a directory ends in `/` */
  skipped: string[];
  /** sockets, FIFOs and devices left out */
  special: string[];
}

async function ignoreRules(root: string): Promise<(rel: string, isDir: boolean) => boolean> {
  const ig = ignore().add(DEFAULT_IGNORE);
  const text = await readFile(join(root, IGNORE_FILE), 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return '';
    throw new AgniError('bad_request', `${join(root, IGNORE_FILE)}: cannot be read (${e.code})`, {
      hint: 'make it a readable text file, or remove it',
    });
  });
  ig.add(text);
  // agni.yaml always goes: a pattern such as `*.yaml` must not make the deploy fail on the server.
  return (rel, isDir) => rel !== 'agni.yaml' && ig.ignores(isDir ? `${rel}/` : rel);
}

function tarOf(root: string, paths: string[], o: { gzip: boolean; portable: boolean }): Readable {
  // An explicit list, one entry each: node-tar's own recursion would follow nothing either, but
  // it stalls on a directory listed before a device (node-tar 7.5).
  return Readable.from(create({ cwd: root, gzip: o.gzip, portable: o.portable, noDirRecurse: true }, paths));
}

/** A function directory as the gzip tar deploy and build upload, minus what the ignore rules drop. */
export async function functionUpload(root: string): Promise<DirUpload> {
  const listing = await listDir(root, await ignoreRules(root));
  return {
    body: tarOf(root, listing.paths, { gzip: true, portable: true }),
    skipped: listing.skipped,
    special: listing.special,
  };
}

/** A root filesystem directory as a tar with its owners (`agni image import NAME DIR`). */
export async function rootfsUpload(root: string): Promise<DirUpload> {
  const listing = await listDir(root);
  return {
    body: tarOf(root, listing.paths, { gzip: false, portable: false }),
    skipped: [],
    special: listing.special,
  };
}

/** One line for the terminal, or '' when nothing was left out. */
export function skippedSummary(u: Pick<DirUpload, 'skipped' | 'special'>, max = 8): string {
  const all = [...u.skipped, ...u.special];
  if (all.length === 0) return '';
  const shown = all.slice(0, max).join(', ');
  const more = all.length > max ? `, and ${all.length - max} more` : '';
  const why = [
    u.skipped.length > 0 ? `${IGNORE_FILE} and the defaults` : '',
    u.special.length > 0 ? 'sockets, FIFOs and devices are never sent' : '',
  ]
    .filter(Boolean)
    .join('; ');
  return `skipped ${all.length} (${why}): ${shown}${more}\n`;
}
