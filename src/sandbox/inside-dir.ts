/**
 * Files under a trusted directory (a volume's host directory, the operator's), opened or written by
 * this root process without following any symlink below it. A function with write access to the
 * volume can replace a directory with a link between a check of a path and its use; resolving the
 * path first (realpath) and opening it after would then read or write wherever the link leads, as
 * root. Here every component is opened on its own, relative to the directory opened before it
 * (through /proc/self/fd, Node having no openat), with O_NOFOLLOW: a link anywhere, planted
 * whenever, fails the open instead of being followed.
 */
import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { type FileHandle, mkdir, open, readdir, rename, unlink } from 'node:fs/promises';
import type { Readable } from 'node:stream';
import { AgniError } from '../core/errors.js';
import type { VolumeWriter } from '../core/volumes.js';

const { O_RDONLY, O_WRONLY, O_CREAT, O_EXCL, O_DIRECTORY, O_NOFOLLOW, O_NONBLOCK } = constants;

/** `rel`'s components; refuses an empty path and `.`/`..` components (never leaves `top`) */
export function insideParts(rel: string, what: string): string[] {
  const parts = rel.split('/').filter((p) => p !== '');
  if (parts.length === 0 || parts.some((p) => p === '.' || p === '..' || p.includes('\0')))
    throw new AgniError('bad_request', `${what}: ${JSON.stringify(rel)} is not a path inside the volume`);
  return parts;
}

const at = (dir: FileHandle, name: string) => `/proc/self/fd/${dir.fd}/${name}`;

/** a link, or not what was expected: no follow, no use */
function refused(code: string | undefined): boolean {
  return code === 'ELOOP' || code === 'ENOTDIR' || code === 'ENOENT' || code === 'EMLINK';
}

/**
 * Opens `parts` as directories below `top`, each without following a link; with `create`, makes
 * the missing ones (0755). The caller closes the handle.
 */
async function openDirs(top: string, parts: readonly string[], create: boolean): Promise<FileHandle> {
  let dir = await open(top, O_RDONLY | O_DIRECTORY);
  try {
    for (const name of parts) {
      let next: FileHandle;
      try {
        next = await open(at(dir, name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
      } catch (e) {
        if (!create || (e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
        // mkdir never follows a link in its last component: a link there makes it fail (EEXIST),
        // and the open after it refuses the link.
        await mkdir(at(dir, name), { mode: 0o755 }).catch((err: NodeJS.ErrnoException) => {
          if (err.code !== 'EEXIST') throw err;
        });
        next = await open(at(dir, name), O_RDONLY | O_DIRECTORY | O_NOFOLLOW);
      }
      await dir.close();
      dir = next;
    }
    return dir;
  } catch (e) {
    await dir.close().catch(() => {});
    throw e;
  }
}

/**
 * Opens the regular file `rel` below `top` for reading, following no link (a FIFO or a device is
 * refused too: it could hold the reader forever). Throws not_found, naming `what`, otherwise.
 */
export async function openFileInside(top: string, rel: string, what: string): Promise<FileHandle> {
  const parts = insideParts(rel, what);
  const name = parts.pop()!;
  let dir: FileHandle | undefined;
  let fh: FileHandle | undefined;
  try {
    dir = await openDirs(top, parts, false);
    // O_NONBLOCK: opening a FIFO would wait for a writer; on a regular file it changes nothing.
    fh = await open(at(dir, name), O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
    if (!(await fh.stat()).isFile())
      throw Object.assign(new Error('not a regular file'), { code: 'ENOTDIR' });
    return fh;
  } catch (e) {
    await fh?.close().catch(() => {});
    const code = (e as NodeJS.ErrnoException).code;
    if (!refused(code)) throw e;
    throw new AgniError(
      'not_found',
      `${what} is not a file on the volume (gone, or a link or special file now)`,
    );
  } finally {
    await dir?.close().catch(() => {});
  }
}

/** a new file being written below a trusted directory, not yet visible under its name */
export interface FileInside {
  /** the temporary file's handle (the caller writes through it, and closes it before commit) */
  readonly handle: FileHandle;
  /** renames it over its name (replacing a file or a link there, never writing through one) */
  commit(): Promise<void>;
  /** removes it: nothing is left behind */
  abort(): Promise<void>;
}

/**
 * Starts a file at `rel` below `top` (0644), making missing directories, following no link: it is
 * a new temporary file beside `rel` until `commit` renames it over `rel`, so a reader never sees a
 * part, and a link at `rel` is replaced, never written through. The directory is held open until
 * then: a link planted on the way afterwards changes nothing. Throws bad_request naming `what` when
 * a directory on the way is a link or a file.
 *
 * `by` (VolumeWriter) names who writes in the temporary file's name and, with `sweep`, removes that
 * writer's temporary files of this name left there first. Another writer's are left alone: it may
 * be writing still.
 */
export async function createFileInside(
  top: string,
  rel: string,
  what: string,
  by?: VolumeWriter,
): Promise<FileInside> {
  const parts = insideParts(rel, what);
  const name = parts.pop()!;
  let dir: FileHandle;
  try {
    dir = await openDirs(top, parts, true);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (!refused(code) && code !== 'EEXIST') throw e;
    throw new AgniError('bad_request', `${what}: a directory on the way is a link or a file`);
  }
  // At most 1 + 200 + 1 + 33 + 16 = 251 bytes: under NAME_MAX (255) whatever the name's length.
  const mine = `.${name.slice(0, 200)}.${by ? `${by.writer.replace(/[^\w-]/g, '_').slice(0, 32)}.` : ''}`;
  const tmp = `${mine}${randomBytes(6).toString('hex')}.tmp`;
  let handle: FileHandle;
  try {
    if (by?.sweep) await removeLeftovers(dir, mine);
    handle = await open(at(dir, tmp), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0o644);
  } catch (e) {
    await dir.close();
    throw e;
  }
  let ended = false;
  const end = async (fn: () => Promise<void>) => {
    if (ended) return;
    ended = true;
    try {
      await fn();
    } finally {
      await handle.close().catch(() => {}); // closed already by the caller's stream, usually
      await dir.close();
    }
  };
  const remove = () => unlink(at(dir, tmp)).catch(() => {});
  return {
    handle,
    commit: () =>
      end(async () => {
        // The data, then the name, then the directory holding the name: a machine that crashes
        // after the caller reported the file written finds it whole, never empty or short under
        // its final name (a rename alone can reach the disk before the data does).
        try {
          await syncFile(handle, at(dir, tmp));
          await rename(at(dir, tmp), at(dir, name));
        } catch (e) {
          // renamed away or its directory gone meanwhile, a full disk: no part of a file is left
          await remove();
          throw e;
        }
        try {
          await dir.sync();
        } catch (e) {
          // A filesystem that cannot sync a directory (some FUSE ones) says so: nothing more to do.
          const code = (e as NodeJS.ErrnoException).code;
          if (code === 'EINVAL' || code === 'ENOTSUP' || code === 'EOPNOTSUPP') return;
          await unlink(at(dir, name)).catch(() => {});
          throw e;
        }
      }),
    abort: () => end(remove),
  };
}

/** removes the entries of `dir` named `prefix` + 12 hex digits + `.tmp` (unlink follows no link) */
async function removeLeftovers(dir: FileHandle, prefix: string): Promise<void> {
  for (const entry of await readdir(`/proc/self/fd/${dir.fd}`))
    if (entry.startsWith(prefix) && /^[0-9a-f]{12}\.tmp$/.test(entry.slice(prefix.length)))
      await unlink(at(dir, entry)).catch(() => {});
}

/**
 * fsync of the file: through `handle` while it is open, else through a fresh open of its path. A
 * function that may write to the volume can swap a link or a FIFO in for it meanwhile: neither is
 * followed nor waited on (non-blocking open), and either fails the commit.
 */
async function syncFile(handle: FileHandle, path: string): Promise<void> {
  if (handle.fd !== -1) return handle.sync();
  const again = await open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK);
  try {
    if (!(await again.stat()).isFile()) throw new Error(`${path}: no longer the file written`);
    await again.sync();
  } finally {
    await again.close();
  }
}

/** writes `data` whole as `rel` below `top`, as createFileInside does; nothing is left on failure */
export async function writeFileInside(
  top: string,
  rel: string,
  data: Buffer | Readable,
  what: string,
  by?: VolumeWriter,
): Promise<void> {
  const f = await createFileInside(top, rel, what, by);
  try {
    if (Buffer.isBuffer(data)) await f.handle.writeFile(data);
    else for await (const chunk of data) await f.handle.write(chunk as Buffer);
  } catch (e) {
    // a full disk, a source that failed
    await f.abort();
    throw e;
  }
  await f.commit();
}
