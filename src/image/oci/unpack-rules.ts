/**
 * The rules a layer entry must pass before anything is written (pure; unpack.ts applies them).
 * A layer breaking one is refused as a whole: a malicious layer fails the pull, it is not
 * silently trimmed.
 */

/** Normalises a tar entry path: './a/b/' → 'a/b', '.' → ''. Returns a reason string if refused. */
export function normaliseEntryPath(raw: string): { path: string } | { refused: string } {
  if (raw.includes('\0')) return { refused: 'contains a NUL byte' };
  if (raw.startsWith('/')) return { refused: 'is an absolute path' };
  const parts: string[] = [];
  for (const p of raw.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') return { refused: 'has a ".." component' };
    parts.push(p);
  }
  return { path: parts.join('/') };
}

/** setuid and setgid are cleared: sandboxes run with no_new_privs anyway, and a lower never needs them. */
export function sanitiseMode(mode: number | undefined): number | undefined {
  return mode === undefined ? undefined : mode & 0o1777;
}

/** tar entry types that are never created: sandboxes get their own /dev. */
export const SKIPPED_TYPES: ReadonlySet<string> = new Set(['CharacterDevice', 'BlockDevice', 'FIFO']);

/** tar entry types that are written. Anything else (sockets, unknown vendor types) refuses the layer. */
export const WRITTEN_TYPES: ReadonlySet<string> = new Set([
  'File',
  'OldFile',
  'ContiguousFile',
  'Directory',
  'SymbolicLink',
  'Link',
]);

/**
 * Remembers which paths of this layer are symlinks, so an entry that would be written through one
 * (`evil -> /etc`, then `evil/passwd`) is refused. Extraction runs on the host, where such a link
 * would resolve against the host's root, so every write through a link is refused, wherever it
 * points: an image tar made from a real filesystem never contains one.
 */
export class SymlinkTracker {
  private readonly links = new Map<string, string>();

  /**
   * the entry at `path` now exists as `type` (a later entry may replace a link by a dir). A hard
   * link (`target`: its normalised target) to a symlink is that symlink again: link(2) does not
   * follow, so writing through it would follow the same target.
   */
  record(path: string, type: string, target?: string): void {
    const linked = type === 'Link' && target !== undefined ? this.links.get(target) : undefined;
    if (type === 'SymbolicLink') this.links.set(path, target ?? '');
    else if (linked !== undefined) this.links.set(path, linked);
    else this.links.delete(path);
  }

  /** the first ancestor of `path` that is a symlink in this layer, if any */
  linkAncestor(path: string): { link: string; target: string } | undefined {
    let at = path.indexOf('/');
    while (at >= 0) {
      const prefix = path.slice(0, at);
      const target = this.links.get(prefix);
      if (target !== undefined) return { link: prefix, target };
      at = path.indexOf('/', at + 1);
    }
    return undefined;
  }
}

/** Whether `target` (a symlink target relative to the link's directory, or absolute) stays in the root. */
export function linkStaysInside(linkPath: string, target: string): boolean {
  if (target.startsWith('/')) return false;
  const parts = linkPath.split('/').slice(0, -1);
  for (const p of target.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') {
      if (parts.length === 0) return false;
      parts.pop();
    } else parts.push(p);
  }
  return true;
}
