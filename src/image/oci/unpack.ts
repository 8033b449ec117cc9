/**
 * Unpacks an image layer once into a directory used as an overlayfs lower. The layer is written to
 * `<dir>.tmp` and renamed, so a layer directory is complete or absent; whiteouts become overlayfs
 * whiteouts (0:0 char devices, made with coreutils `mknod`) and opaque markers the
 * `trusted.overlay.opaque` xattr (`setfattr` from the attr package). Needs root (mknod, trusted.*).
 */
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { chmod, lstat, mkdir, rename, rm, stat } from 'node:fs/promises';
import { basename, join } from 'node:path';
import type { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { createGunzip } from 'node:zlib';
import { extract, type ReadEntry } from 'tar';
import { AgniError } from '../../core/errors.js';
import { DEFAULT_LIMITS, UnpackBudget, type UnpackLimits } from '../../core/limits.js';
import { removeTree } from '../extract-upload.js';
import { TarEntryGuard } from '../tar-guard.js';
import { classifyEntry } from './whiteout.js';

const execFileP = promisify(execFile);

export type Compression = 'none' | 'gzip';

/** The layer media types of OCI and Docker v2 schema 2, by compression. zstd is refused (Node 20 has no zstd). */
export function layerCompression(mediaType: string): Compression {
  const mt = mediaType.trim();
  if (mt.endsWith('+zstd') || mt.endsWith('.zstd')) {
    throw new AgniError(
      'layer_invalid',
      `layer media type "${mt}": zstd-compressed layers are not supported`,
      {
        hint: 'push the image with gzip-compressed layers (the default of docker and buildah)',
        details: { mediaType: mt },
      },
    );
  }
  if (
    mt === 'application/vnd.oci.image.layer.v1.tar' ||
    mt === 'application/vnd.oci.image.layer.nondistributable.v1.tar' ||
    mt === 'application/vnd.docker.image.rootfs.diff.tar'
  )
    return 'none';
  if (
    mt === 'application/vnd.oci.image.layer.v1.tar+gzip' ||
    mt === 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip' ||
    mt === 'application/vnd.docker.image.rootfs.diff.tar.gzip' ||
    mt === 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip'
  )
    return 'gzip';
  throw new AgniError('layer_invalid', `unsupported layer media type "${mt}"`, {
    hint: 'Agni unpacks OCI and Docker tar and tar+gzip layers',
    details: { mediaType: mt },
  });
}

export interface UnpackResult {
  dir: string;
  /** regular files, dirs, links written */
  entries: number;
  /** device nodes and FIFOs not created (sandboxes get their own /dev) */
  skippedDevices: number;
  whiteouts: number;
  opaqueDirs: number;
}

function refuse(entry: string, why: string): AgniError {
  return new AgniError('layer_invalid', `layer entry "${entry}" ${why}`, {
    hint: 'the layer is refused as a whole; rebuild the image without that entry',
    details: { entry },
  });
}

/** Applies the rules of tar-guard.ts and whiteouts to each entry; the first refusal aborts the extraction. */
class EntryFilter {
  readonly guard = new TarEntryGuard(refuse, 'the layer root');
  readonly written = new Set<string>();
  /** modes to set exactly after extraction: mkdir/open apply the process umask (a sticky 1777 /tmp would lose bits) */
  readonly modes = new Map<string, number>();
  readonly whiteouts: string[] = [];
  readonly opaque: string[] = [];
  entries = 0;
  error: AgniError | undefined;

  /** counts what is written as the layer streams (`agni up --max-unpack`, `--max-files`) */
  constructor(private readonly budget: UnpackBudget) {}

  check(rawPath: string, entry: ReadEntry): boolean {
    if (this.error) return false;
    try {
      return this.accept(rawPath, entry);
    } catch (e) {
      this.error = e instanceof AgniError ? e : refuse(rawPath, (e as Error).message);
      return false;
    }
  }

  private accept(raw: string, entry: ReadEntry): boolean {
    const path = this.guard.safePath(raw);
    if (path === '') return false; // the layer root itself: its dir is ours
    const kind = classifyEntry(path);
    if (kind.kind === 'opaque') {
      this.opaque.push(kind.dir);
      return false;
    }
    if (kind.kind === 'whiteout') {
      this.whiteouts.push(this.guard.safePath(kind.target, raw));
      this.spend(0);
      return false;
    }
    if (kind.kind === 'aufs-meta') return false;
    if (!this.guard.admit(path, raw, entry)) return false;
    if (entry.type === 'SymbolicLink' || entry.type === 'Link') this.modes.delete(path);
    else if (entry.mode !== undefined) this.modes.set(path, entry.mode);
    this.spend(entry.size ?? 0);
    this.written.add(path);
    this.entries++;
    return true;
  }

  private spend(bytes: number): void {
    const over = this.budget.charge(bytes);
    if (over) throw over;
  }
}

async function extractInto(blobPath: string, compression: Compression, dir: string, f: EntryFilter) {
  const unpacker = extract({
    cwd: dir,
    strict: true,
    // node-tar's own path guard strips "/" from symlink targets, which breaks every image (`sh -> /bin/busybox`);
    // the EntryFilter above enforces the same rules (no .., no absolute path, no write through a link) and refuses.
    preservePaths: true,
    unlink: true, // an entry replacing a symlink removes the link instead of writing through it
    preserveOwner: false, // everything owned by root: the uid the sandbox runs as is chosen separately
    chmod: true, // modes exactly as the layer says (minus setuid/setgid), not filtered by our umask
    processUmask: 0,
    filter: (p, e) => f.check(p, e as ReadEntry),
  });
  // Abort as soon as an entry is refused rather than reading the rest of a hostile layer.
  unpacker.on('ignoredEntry', () => {
    if (f.error) unpacker.abort(f.error);
  });
  const stages: (NodeJS.ReadableStream | NodeJS.WritableStream)[] = [createReadStream(blobPath)];
  if (compression === 'gzip') stages.push(createGunzip());
  stages.push(unpacker as unknown as Writable);
  try {
    await pipeline(stages);
  } catch (e) {
    if (f.error) throw f.error;
    throw new AgniError(
      'layer_invalid',
      `layer ${basename(blobPath)} is damaged: ${(e as Error).message.split(dir).join('')}`,
      {
        hint: 'pull the image again; the blob may be truncated',
        cause: e,
      },
    );
  }
  if (f.error) throw f.error;
}

/** Overlayfs whiteouts, after the files: a whiteout only hides what the layers below have. */
async function applyWhiteouts(dir: string, f: EntryFilter): Promise<void> {
  for (const target of f.whiteouts) {
    if (f.written.has(target)) continue; // the same layer's file wins (image-spec: whiteouts apply to lower layers)
    const at = join(dir, target);
    await mkdir(join(at, '..'), { recursive: true });
    try {
      await lstat(at);
      continue; // a dir of this layer lies under the name: it stays
    } catch {
      // absent: make the whiteout
    }
    await execFileP('mknod', ['-m', '000', at, 'c', '0', '0']);
  }
  const opaque = [...new Set(f.opaque)].map((d) => join(dir, d));
  for (const d of opaque) await mkdir(d, { recursive: true });
  // setfattr takes many files per call: one exec for the whole layer.
  if (opaque.length > 0) await execFileP('setfattr', ['-n', 'trusted.overlay.opaque', '-v', 'y', ...opaque]);
}

/**
 * Unpacks `blobPath` into `destDir` (which must not exist yet), via `destDir.tmp` and a rename.
 * On any failure nothing is left at either path.
 */
export async function unpackLayer(
  blobPath: string,
  mediaType: string,
  destDir: string,
  limits: UnpackLimits = DEFAULT_LIMITS.unpack,
): Promise<UnpackResult> {
  const compression = layerCompression(mediaType);
  const tmp = `${destDir}.tmp`;
  await rm(tmp, { recursive: true, force: true }); // a crashed earlier attempt
  await mkdir(tmp, { recursive: true, mode: 0o755 });
  const f = new EntryFilter(new UnpackBudget(limits, `image layer sha256:${basename(blobPath)}`));
  try {
    await extractInto(blobPath, compression, tmp, f);
    for (const [p, mode] of f.modes) {
      // a later entry may have turned an ancestor into a link: chmod follows it, so never through one
      if (!f.guard.links.linkAncestor(p)) await chmod(join(tmp, p), mode);
    }
    await applyWhiteouts(tmp, f);
    await chmod(tmp, 0o755);
    await rename(tmp, destDir);
  } catch (e) {
    await removeTree(tmp);
    if (e instanceof AgniError) throw e;
    throw new AgniError(
      'layer_invalid',
      `cannot unpack layer ${basename(blobPath)}: ${(e as Error).message.split(tmp).join('')}`,
      {
        cause: e,
      },
    );
  }
  return {
    dir: destDir,
    entries: f.entries,
    skippedDevices: f.guard.skippedDevices,
    whiteouts: f.whiteouts.length,
    opaqueDirs: f.opaque.length,
  };
}

const DIGEST_RE = /^sha256:([0-9a-f]{64})$/;

/** `$AGNI_HOME/content/layers/<hex>`: where the layer with this (compressed blob) digest is unpacked. */
export function layerDir(home: string, digest: string): string {
  const m = DIGEST_RE.exec(digest);
  if (!m) throw new AgniError('layer_invalid', `layer digest "${digest}" is not sha256:<64 lowercase hex>`);
  return join(home, 'content', 'layers', m[1]!);
}

const inFlight = new Map<string, Promise<string>>();

/**
 * The layer's directory, unpacked on first use. Concurrent callers for one layer share one unpack;
 * a layer directory that exists is complete (it only ever appears by rename).
 */
export function ensureLayer(
  home: string,
  digest: string,
  blobPath: string,
  mediaType: string,
  limits?: UnpackLimits,
): Promise<string> {
  const dir = layerDir(home, digest);
  const running = inFlight.get(dir);
  if (running) return running;
  const p = (async () => {
    try {
      if ((await stat(dir)).isDirectory()) return dir;
    } catch {
      // not unpacked yet
    }
    await mkdir(join(dir, '..'), { recursive: true });
    await unpackLayer(blobPath, mediaType, dir, limits);
    return dir;
  })();
  inFlight.set(dir, p);
  void p.finally(() => inFlight.delete(dir)).catch(() => {});
  return p;
}
