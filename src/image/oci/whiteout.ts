/**
 * OCI layer whiteouts (image-spec layer.md): `.wh.NAME` deletes NAME of the layers below,
 * `.wh..wh..opq` hides everything the layers below have in its directory. Overlayfs spells the
 * same things as a 0:0 character device at NAME and the xattr `trusted.overlay.opaque=y`.
 */
export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';

export type EntryKind =
  | { kind: 'file' }
  /** `dir` is '' for the layer root */
  | { kind: 'opaque'; dir: string }
  | { kind: 'whiteout'; target: string }
  /** other `.wh..wh.*` names are aufs bookkeeping (hard-link dirs): never part of the image */
  | { kind: 'aufs-meta' };

/** Classifies a normalised entry path (no leading './', no trailing '/'). Throws a reason string's Error on a bad whiteout name. */
export function classifyEntry(path: string): EntryKind {
  const slash = path.lastIndexOf('/');
  const dir = slash < 0 ? '' : path.slice(0, slash);
  const base = path.slice(slash + 1);
  if (!base.startsWith(WHITEOUT_PREFIX)) return { kind: 'file' };
  if (base === OPAQUE_MARKER) return { kind: 'opaque', dir };
  if (base.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) return { kind: 'aufs-meta' };
  const name = base.slice(WHITEOUT_PREFIX.length);
  if (name === '' || name === '.' || name === '..') throw new Error(`whiteout for "${name}" names no file`);
  return { kind: 'whiteout', target: dir ? `${dir}/${name}` : name };
}
