/**
 * Removing what no image needs from $AGNI_HOME/content, given the referenced set (references.ts):
 *
 * - blobs/sha256/<hex> not referenced;
 * - layers/<hex> (unpacked layers) whose layer is not referenced, unless an overlay mounted in
 *   this machine names it (a sandbox still running on it); layers/<hex>.tmp older than an hour
 *   (an unpack that crashed: a running one is younger, and ensureLayer restarts from scratch anyway);
 * - ingest/*.tmp older than an hour (a putBytes that died before its rename), and ingest/<hex>.part
 *   whose blob is already whole. Other .part files are partial downloads a pull resumes from: they
 *   go only with `all`, and never while their download's lock is held by a live process.
 *
 * `only` narrows it to one removed image's blobs and layers (`agni image rm`). Callers hold the
 * GcGate exclusively, so no pull is between writing blobs and recording them.
 */
import { readdir, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { walkTree } from '../../app/fs-util.js';
import type { ContentStore } from './content-store.js';
import type { References } from './references.js';

export const LEFTOVER_AGE_MS = 60 * 60 * 1000;

export interface PruneReport {
  dryRun: boolean;
  blobs: number;
  blobBytes: number;
  layerDirs: number;
  /** bytes of the files in the removed layer directories */
  layerBytes: number;
  /** .part, .tmp and crashed-unpack leftovers */
  leftovers: number;
  leftoverBytes: number;
  /** partial downloads kept for resuming (removed with `all`) */
  partialsKept: number;
  partialBytesKept: number;
  /** unreferenced layer directories kept because a mounted overlay uses them */
  layerDirsInUse: number;
  /** blobBytes + layerBytes + leftoverBytes */
  freedBytes: number;
}

export interface PruneOptions {
  home: string;
  content: ContentStore;
  refs: References;
  /** only these blobs and layers may go (the closure of one removed image) */
  only?: References;
  /** also partial downloads nobody is writing */
  all?: boolean;
  dryRun?: boolean;
  now?: number;
  /** the text of /proc/self/mountinfo (injectable for tests) */
  mountinfo?: () => Promise<string>;
}

const HEX = /^[a-f0-9]{64}$/;

/** 64-hex names that appear in the options of mounted overlays: layer directories in use. */
export function mountedLayerHexes(mountinfo: string): Set<string> {
  const out = new Set<string>();
  for (const line of mountinfo.split('\n')) {
    if (!/ - overlay /.test(line)) continue;
    for (const m of line.matchAll(/(?:^|[/,=:])([a-f0-9]{64})(?=$|[/,:\s])/g)) out.add(m[1]!);
  }
  return out;
}

async function sizeOf(p: string): Promise<number | undefined> {
  return stat(p).then(
    (s) => s.size,
    () => undefined,
  );
}

function lockHolderAlive(text: string): boolean {
  const pid = Number.parseInt(text, 10);
  if (!Number.isInteger(pid) || pid <= 0) return true; // being written: treat as held
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

export async function pruneContent(o: PruneOptions): Promise<PruneReport> {
  const now = o.now ?? Date.now();
  const r: PruneReport = {
    dryRun: !!o.dryRun,
    blobs: 0,
    blobBytes: 0,
    layerDirs: 0,
    layerBytes: 0,
    leftovers: 0,
    leftoverBytes: 0,
    partialsKept: 0,
    partialBytesKept: 0,
    layerDirsInUse: 0,
    freedBytes: 0,
  };
  const remove = async (p: string, dir = false) => {
    if (!o.dryRun) await rm(p, { recursive: dir, force: true, maxRetries: dir ? 3 : 0 });
  };

  for (const d of await o.content.list()) {
    if (o.refs.blobs.has(d) || (o.only && !o.only.blobs.has(d))) continue;
    const size = await sizeOf(o.content.path(d));
    if (size === undefined) continue;
    await remove(o.content.path(d));
    r.blobs++;
    r.blobBytes += size;
  }

  const layersDir = join(o.home, 'content', 'layers');
  const names = await readdir(layersDir).catch(() => [] as string[]);
  const mounted = names.length
    ? mountedLayerHexes(await (o.mountinfo ?? (() => readFile('/proc/self/mountinfo', 'utf8')))())
    : new Set<string>();
  for (const name of names) {
    const p = join(layersDir, name);
    if (name.endsWith('.tmp')) {
      if (o.only) continue;
      const st = await stat(p).catch(() => undefined);
      if (!st || now - st.mtimeMs < LEFTOVER_AGE_MS) continue;
      const { bytes } = await walkTree(p).catch(() => ({ bytes: 0 }));
      await remove(p, true);
      r.leftovers++;
      r.leftoverBytes += bytes;
      continue;
    }
    if (!HEX.test(name)) continue;
    const digest = `sha256:${name}`;
    if (o.refs.layers.has(digest) || (o.only && !o.only.layers.has(digest))) continue;
    if (mounted.has(name)) {
      r.layerDirsInUse++;
      continue;
    }
    const { bytes } = await walkTree(p).catch(() => ({ bytes: 0 }));
    await remove(p, true);
    r.layerDirs++;
    r.layerBytes += bytes;
  }

  if (!o.only) {
    const ingest = join(o.content.root, 'ingest');
    const entries = await readdir(ingest).catch(() => [] as string[]);
    for (const name of entries) {
      const p = join(ingest, name);
      const st = await stat(p).catch(() => undefined);
      if (!st?.isFile()) continue;
      if (name.endsWith('.tmp')) {
        if (now - st.mtimeMs < LEFTOVER_AGE_MS) continue;
      } else if (name.endsWith('.part')) {
        const hex = name.slice(0, -'.part'.length);
        if (!HEX.test(hex)) continue;
        const lock = await readFile(join(ingest, `${hex}.lock`), 'utf8').catch(() => undefined);
        if (lock !== undefined && lockHolderAlive(lock)) continue;
        const whole = await o.content.has(`sha256:${hex}`);
        if (!whole && !o.all) {
          r.partialsKept++;
          r.partialBytesKept += st.size;
          continue;
        }
      } else continue;
      await remove(p);
      r.leftovers++;
      r.leftoverBytes += st.size;
    }
  }
  r.freedBytes = r.blobBytes + r.layerBytes + r.leftoverBytes;
  return r;
}
