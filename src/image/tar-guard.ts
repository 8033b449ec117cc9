/**
 * The entry-by-entry checks every tar Agni unpacks passes before node-tar writes anything: image
 * layers (oci/unpack.ts) and uploads (extract-upload.ts: deploys, builds, rootfs imports).
 *
 * Both unpack with node-tar's `preservePaths`, so symlinks keep their targets exactly (`sh ->
 * /bin/busybox`, `venv/bin/python3 -> /usr/bin/python3`): inside the sandbox they resolve against
 * its own root. That option also turns off node-tar's own guards, so this class enforces them in
 * stream order: no absolute or `..` entry path, no entry written through a symlink of the same tar
 * (a hard link to a symlink counts as one), hard links only to entries inside the root. A tar is
 * unpacked into a fresh empty directory, so the only links on the way are the tar's own.
 */
import type { ReadEntry } from 'tar';
import type { AgniError } from '../core/errors.js';
import {
  linkStaysInside,
  normaliseEntryPath,
  SKIPPED_TYPES,
  SymlinkTracker,
  sanitiseMode,
  WRITTEN_TYPES,
} from './oci/unpack-rules.js';

/** makes the refusal of one entry; `entry` is the entry's path as the tar spells it */
export type Refuse = (entry: string, why: string) => AgniError;

export class TarEntryGuard {
  readonly links = new SymlinkTracker();
  /** device nodes and FIFOs left out: sandboxes get their own /dev */
  skippedDevices = 0;

  /** `root` names the root in messages: "the layer root", "the upload" */
  constructor(
    private readonly refuse: Refuse,
    private readonly root: string,
  ) {}

  /** `entry` names the tar entry in errors; `raw` is the path checked (the entry's, or its hard link's target) */
  safePath(raw: string, entry = raw, what = ''): string {
    const n = normaliseEntryPath(raw);
    if ('refused' in n) throw this.refuse(entry, `${what}${n.refused}`);
    const via = this.links.linkAncestor(n.path);
    if (via) {
      const where = linkStaysInside(via.link, via.target) ? '' : ` pointing outside ${this.root}`;
      throw this.refuse(
        entry,
        `${what}would be written through symlink "${via.link}" (→ ${via.target})${where}`,
      );
    }
    return n.path;
  }

  /**
   * Whether the entry at `path` (from `safePath`) is written: false for devices and FIFOs; throws
   * for other types and for hard links leaving the root. Clears setuid/setgid and records links.
   */
  admit(path: string, raw: string, entry: ReadEntry): boolean {
    if (SKIPPED_TYPES.has(entry.type)) {
      this.skippedDevices++;
      return false;
    }
    if (!WRITTEN_TYPES.has(entry.type)) throw this.refuse(raw, `has unsupported type ${entry.type}`);
    let linkTarget = entry.linkpath;
    if (entry.type === 'Link') {
      const target = entry.linkpath ?? '';
      const t = normaliseEntryPath(target);
      if ('refused' in t || t.path === '')
        throw this.refuse(raw, `is a hard link to "${target}" outside ${this.root}`);
      this.safePath(target, raw, 'is a hard link whose target ');
      linkTarget = t.path;
    }
    entry.mode = sanitiseMode(entry.mode) as number;
    this.links.record(path, entry.type, linkTarget);
    return true;
  }
}
