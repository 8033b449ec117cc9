/**
 * The function's layer for `agni build`: its directory as a gzip tar under `fn/` (the sandbox's
 * /fn), reproducible: the same files give the same bytes whatever their mtimes, owners, umask or
 * the order readdir returns them in. Entries are sorted bytewise (a directory before its
 * children), mtimes fixed (SOURCE_DATE_EPOCH, else 0), owners 0:0 with empty names (node-tar's
 * `portable` drops uid/gid/uname/gname/atime/ctime), modes normalised to 0755 for directories and
 * files with any x bit, 0644 for other files. Hard links are stored as plain files, since whether
 * two names share an inode depends on how the directory was copied, not on its contents.
 *
 * gzip comes from node:zlib at a pinned level: its header has no name and mtime 0, and the OS byte
 * is zlib's compile-time constant (3, unix, on Linux), so the blob digest is stable as long as
 * zlib's deflate output is, i.e. across machines with the same zlib (Node bundles its own).
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { constants, createGzip } from 'node:zlib';
import { create, type WriteEntry } from 'tar';
import { AgniError } from '../../core/errors.js';
import { listDir } from '../dir-list.js';
import { MT } from './media-types.js';

export const FN_PREFIX = 'fn';
export const GZIP_LEVEL = 6;

export interface FunctionLayer {
  /** sha256 of the gzip blob */
  digest: string;
  size: number;
  /** sha256 of the uncompressed tar: what rootfs.diff_ids lists */
  diffId: string;
  mediaType: typeof MT.ociLayerGzip;
  /** entries in the tar, `fn/` included */
  entries: number;
}

/** Every path under `dir` (relative, `/`-separated), without following symlinks, sorted bytewise. */
export async function listTree(dir: string): Promise<string[]> {
  // Sockets, FIFOs and devices have no place in a function's files (node-tar would skip them too).
  return (await listDir(dir)).paths;
}

/** The mode an entry is written with: only what matters to the sandbox, never setuid/setgid. */
export function normalMode(type: string, mode: number): number {
  if (type === 'Directory' || type === 'SymbolicLink') return 0o755;
  return mode & 0o111 ? 0o755 : 0o644;
}

/** A link cache that never remembers, so node-tar writes every file with its own contents. */
class NoHardLinks extends Map<`${number}:${number}`, string> {
  override get(): undefined {
    return undefined;
  }
  override set(): this {
    return this;
  }
}

/** SOURCE_DATE_EPOCH (whole seconds since 1970) as a Date; 0 when unset. */
export function sourceDate(epoch: string | number | undefined): Date {
  if (epoch === undefined || epoch === '') return new Date(0);
  const n = typeof epoch === 'number' ? epoch : Number(epoch);
  if (!Number.isSafeInteger(n) || n < 0 || String(epoch).trim() !== String(n)) {
    throw new AgniError(
      'bad_request',
      `SOURCE_DATE_EPOCH "${epoch}": expected whole seconds since 1970, e.g. 1700000000`,
      { hint: 'unset it for 1970-01-01, or set it to e.g. $(git log -1 --format=%ct)' },
    );
  }
  return new Date(n * 1000);
}

/** Writes the layer of `dir` to `outFile` and returns its digests. */
export async function buildFunctionLayer(
  dir: string,
  outFile: string,
  o: { mtime?: Date } = {},
): Promise<FunctionLayer> {
  return writeLayer(dir, outFile, { mtime: o.mtime ?? new Date(0), rootfs: false });
}

/**
 * The layer of a whole root filesystem (`agni image import`): its files at the top, with their
 * owners and modes as they are (a rootfs's setuid helpers and owned directories matter), mtimes
 * fixed, entries sorted, so the same tree gives the same layer.
 */
export async function buildRootfsLayer(dir: string, outFile: string): Promise<FunctionLayer> {
  return writeLayer(dir, outFile, { mtime: new Date(0), rootfs: true });
}

async function writeLayer(
  dir: string,
  outFile: string,
  o: { mtime: Date; rootfs: boolean },
): Promise<FunctionLayer> {
  const { mtime } = o;
  const paths = await listTree(dir);
  // A function's top directory itself becomes `fn/`, so the layer carries its parent with fixed metadata.
  const list = o.rootfs ? paths : ['.', ...paths];
  const pack = create(
    {
      cwd: dir,
      ...(o.rootfs ? {} : { prefix: FN_PREFIX }),
      portable: !o.rootfs,
      noDirRecurse: true,
      mtime,
      linkCache: new NoHardLinks(),
      onWriteEntry(e: WriteEntry) {
        const st = e.stat!;
        if (!o.rootfs) st.mode = (st.mode & ~0o7777) | normalMode(String(e.type), st.mode);
        else {
          // Owner numbers only: names differ between the importing host and the image.
          (e as unknown as { uname?: string; gname?: string }).uname = '';
          (e as unknown as { uname?: string; gname?: string }).gname = '';
          // Not `portable` (it drops owners), so node-tar would store atime and ctime: fix them too.
          st.atime = mtime;
          st.ctime = mtime;
        }
        // `portable` leaves directories' mtime out; a fixed one is as reproducible and clearer.
        e.noMtime = false;
      },
    },
    list,
  );
  const diff = createHash('sha256');
  const blob = createHash('sha256');
  let size = 0;
  await pipeline(
    Readable.from(pack),
    new Transform({
      transform(chunk: Buffer, _enc, cb) {
        diff.update(chunk);
        cb(null, chunk);
      },
    }),
    createGzip({ level: GZIP_LEVEL, strategy: constants.Z_DEFAULT_STRATEGY }),
    new Transform({
      transform(chunk: Buffer, _enc, cb) {
        blob.update(chunk);
        size += chunk.length;
        cb(null, chunk);
      },
    }),
    createWriteStream(outFile, { mode: 0o644 }),
  );
  return {
    digest: `sha256:${blob.digest('hex')}`,
    size,
    diffId: `sha256:${diff.digest('hex')}`,
    mediaType: MT.ociLayerGzip,
    entries: list.length,
  };
}
