/**
 * Unpacks an uploaded tar (a function directory, a root filesystem) into a fresh directory with
 * node-tar, within an UnpackBudget, and turns every failure into a 4xx that names the entry and
 * never the host path. The caller owns the directory and removes it with `removeTree` on failure.
 */
import { readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { extract, type ReadEntry } from 'tar';
import { AgniError } from '../core/errors.js';
import { UnpackBudget, type UnpackLimits } from '../core/limits.js';
import { TarEntryGuard } from './tar-guard.js';

export interface ExtractUploadOptions {
  limits: UnpackLimits;
  /** what is unpacked, for messages: "the uploaded function", "image foo" */
  what: string;
  preserveOwner: boolean;
}

/** node-tar's error, said without its code prefix, the entry named and the directory's path cut out */
function describeTarError(e: Error & { entry?: { path?: string } }, dir: string): string {
  const msg = e.message
    .replace(/^TAR_[A-Z_]+: /, '')
    .split(dir)
    .join('');
  const entry = e.entry?.path;
  return entry ? `entry "${entry}": ${msg}` : msg;
}

export interface ExtractResult {
  /** device nodes and FIFOs left out (a rootfs's /dev): sandboxes get their own */
  skippedDevices: number;
}

export async function extractUpload(
  upload: Readable,
  dir: string,
  o: ExtractUploadOptions,
): Promise<ExtractResult> {
  const budget = new UnpackBudget(o.limits, o.what);
  const refuse = (entry: string, why: string) =>
    new AgniError('bad_request', `${o.what}: entry "${entry}" ${why}`, {
      hint: 'symlinks may point anywhere (they resolve inside the sandbox), but no entry may be written through one, and hard links must stay inside the upload',
      details: { entry },
    });
  const guard = new TarEntryGuard(refuse, 'the upload');
  let refused: AgniError | undefined;
  const admit = (raw: string, entry: ReadEntry): boolean => {
    const path = guard.safePath(raw);
    // the top directory itself: the caller made it and owns its mode
    if (path === '' || !guard.admit(path, raw, entry)) return false;
    const over = budget.charge(entry.size ?? 0);
    if (over) throw over;
    return true;
  };
  const unpacker = extract({
    cwd: dir,
    strict: true,
    preserveOwner: o.preserveOwner,
    // node-tar's own guard strips "/" from symlink targets, which breaks every real root filesystem
    // and venv (`bin/python3 -> /usr/bin/python3`); TarEntryGuard enforces its rules instead, in order.
    preservePaths: true,
    unlink: true,
    filter: (raw, entry) => {
      if (refused) return false;
      try {
        return admit(raw, entry as ReadEntry);
      } catch (e) {
        refused = e instanceof AgniError ? e : refuse(raw, (e as Error).message);
        return false;
      }
    },
  });
  // Stop at the first refused entry instead of reading the rest of a hostile upload.
  unpacker.on('ignoredEntry', () => {
    if (refused) unpacker.abort(refused);
  });
  try {
    await pipeline(upload, unpacker);
  } catch (e) {
    if (refused) throw refused;
    if (e instanceof AgniError) throw e;
    throw new AgniError(
      'bad_request',
      `${o.what}: could not unpack the upload: ${describeTarError(e as Error, dir)}`,
      {
        hint: 'send a plain tar (or tar.gz) of regular files, directories and links',
        cause: e,
      },
    );
  }
  if (refused) throw refused;
  return { skippedDevices: guard.skippedDevices };
}

/**
 * Removes a staging tree. node-tar may still finish a write it began before an error stopped the
 * extraction, so a first `rm` can meet a file that appears meanwhile: retry until the tree stays gone.
 */
export async function removeTree(dir: string): Promise<void> {
  await rm(dir, { recursive: true, force: true, maxRetries: 10, retryDelay: 20 });
}

/** Empties a staging directory at start (what a crashed process left); returns how many it removed. */
export async function removeChildren(dir: string): Promise<number> {
  const names = await readdir(dir).catch(() => [] as string[]);
  for (const d of names) await removeTree(join(dir, d));
  return names.length;
}
