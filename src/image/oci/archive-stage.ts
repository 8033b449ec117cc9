/**
 * First pass of `agni image load`: the archive streams through once (gzip is detected by the tar
 * parser) and every regular file lands in a private staging directory under content/ingest,
 * hashed and counted as it is written. Nothing reaches blobs/ here: a bad archive is refused
 * before any of it is stored. Entries named `blobs/sha256/<hex>` are checked against their name
 * the moment they end, so a damaged OCI blob fails the load without reading the rest.
 */
import { createHash } from 'node:crypto';
import { mkdir, open } from 'node:fs/promises';
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { Parser, type ReadEntry } from 'tar';
import { AgniError, isAgniError } from '../../core/errors.js';
import { fitsImageArchive, normaliseArchivePath, notAnImageArchive } from './archive-paths.js';

export interface StagedFile {
  /** normalised name in the archive */
  path: string;
  digest: string;
  size: number;
  /** the first bytes, to tell gzip and zstd layers from plain tars */
  head: Buffer;
  /** where the bytes are; absent when the content store already had this blob */
  file?: string;
}

export interface StagedArchive {
  files: Map<string, StagedFile>;
  /** symlinks and hard links: normalised name → normalised target (resolved against the archive root) */
  links: Map<string, string>;
}

const OCI_BLOB = /^blobs\/([^/]+)\/([^/]+)$/;
const FILE_TYPES = new Set(['File', 'OldFile', 'ContiguousFile']);

export interface StageOptions {
  /** the staging directory (created; the caller removes it) */
  dir: string;
  /** whether the content store has a blob: its bytes are then hashed but not written again */
  has: (digest: string) => Promise<boolean>;
}

export function blobMismatch(path: string, want: string, got: string): AgniError {
  return new AgniError('manifest_invalid', `${path}: content does not match its digest (got ${got})`, {
    hint: 'the archive is damaged or was altered; nothing was loaded',
    details: { path, expected: want, actual: got },
  });
}

async function stageFile(
  entry: ReadEntry,
  path: string,
  o: StageOptions,
  n: number,
  cancel: AbortSignal,
): Promise<StagedFile> {
  const m = OCI_BLOB.exec(path);
  let want: string | undefined;
  if (m) {
    if (m[1] !== 'sha256' || !/^[a-f0-9]{64}$/.test(m[2]!)) {
      throw new AgniError('manifest_invalid', `${path}: only sha256 blobs are supported`, {
        hint: 'blobs in an OCI layout are named blobs/sha256/<64 lowercase hex>',
      });
    }
    want = `sha256:${m[2]}`;
  }
  const skip = want !== undefined && (await o.has(want));
  const file = skip ? undefined : join(o.dir, String(n));
  const hash = createHash('sha256');
  let size = 0;
  let head = Buffer.alloc(0);
  const fh = file ? await open(file, 'wx') : undefined;
  try {
    if (cancel.aborted) throw cancel.reason;
    for await (const chunk of entry as AsyncIterable<Buffer>) {
      hash.update(chunk);
      size += chunk.length;
      if (head.length < 8) head = Buffer.concat([head, chunk.subarray(0, 8 - head.length)]);
      if (fh) await fh.write(chunk);
      // A destroyed entry wakes a waiting read, not one asked for after it: check between reads.
      if (cancel.aborted) throw cancel.reason;
    }
  } finally {
    await fh?.close();
  }
  const digest = `sha256:${hash.digest('hex')}`;
  if (want && digest !== want) throw blobMismatch(path, want, digest);
  return { path, digest, size, head, ...(file ? { file } : {}) };
}

/** Reads the whole archive into `o.dir`; rejects on the first bad entry (the input is then left unread). */
export async function stageArchive(input: Readable, o: StageOptions): Promise<StagedArchive> {
  await mkdir(o.dir, { recursive: true });
  const staged: StagedArchive = { files: new Map(), links: new Map() };
  const parser = new Parser({ strict: true });
  const pending: Promise<void>[] = [];
  let failure: unknown;
  let n = 0;
  let settle: () => void = () => {};
  const active = new Set<ReadEntry>();
  const cancel = new AbortController();
  const fail = (e: unknown) => {
    if (failure) return;
    failure = e;
    cancel.abort(e);
    input.unpipe(parser as unknown as NodeJS.WritableStream);
    parser.abort(e instanceof Error ? e : new Error(String(e)));
    // The parser feeds no more bytes: entries being written would wait forever.
    for (const entry of active) entry.destroy();
    settle();
  };
  parser.on('entry', (entry: ReadEntry) => {
    if (failure) return entry.resume();
    const path = normaliseArchivePath(entry.path);
    const isDir = entry.type === 'Directory';
    if (path === undefined) return fail(notAnImageArchive(`entry "${entry.path}" leaves the archive's root`));
    if (!fitsImageArchive(path, isDir)) {
      return fail(notAnImageArchive(`entry "${entry.path}" belongs to no image archive layout`));
    }
    if (isDir) return entry.resume();
    if (entry.type === 'SymbolicLink' || entry.type === 'Link') {
      // A symlink's target is relative to its directory, a hard link's to the archive's root.
      const base = entry.type === 'SymbolicLink' ? posix.dirname(path) : '';
      const link = entry.linkpath ?? '';
      const target = link.startsWith('/') ? undefined : normaliseArchivePath(posix.join(base, link));
      if (target === undefined) {
        return fail(
          new AgniError(
            'manifest_invalid',
            `${path}: link to "${entry.linkpath}" points outside the archive`,
            {
              hint: 'links in an image archive must stay inside it',
            },
          ),
        );
      }
      staged.links.set(path, target);
      return entry.resume();
    }
    if (!FILE_TYPES.has(entry.type))
      return fail(notAnImageArchive(`entry "${entry.path}" is a ${entry.type}`));
    const i = n++;
    active.add(entry);
    pending.push(
      stageFile(entry, path, o, i, cancel.signal)
        .then(
          (f) => {
            staged.files.set(path, f);
          },
          (e) => {
            entry.resume();
            fail(e);
          },
        )
        .finally(() => active.delete(entry)),
    );
  });
  await new Promise<void>((resolve) => {
    settle = resolve;
    parser.on('error', (e: Error) => {
      if (!failure) fail(tarError(e));
    });
    parser.on('end', () => resolve());
    input.on('error', (e) => fail(e));
    input.pipe(parser as unknown as NodeJS.WritableStream);
  });
  // Files still being written finish (or fail) before the caller may remove the directory.
  await Promise.allSettled(pending);
  if (failure) throw failure;
  return staged;
}

function tarError(e: Error): AgniError {
  if (isAgniError(e)) return e;
  return new AgniError('bad_request', `not a readable tar archive: ${e.message}`, {
    hint: 'agni image load takes a tar (optionally gzip-compressed) from docker save, podman save or skopeo, or an OCI layout directory',
    cause: e,
  });
}
