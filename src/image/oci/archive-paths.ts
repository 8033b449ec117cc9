/**
 * Names inside image archives (docker save tarballs, OCI layouts): normalised the same way for
 * tar entries, manifest.json paths and link targets, and never allowed out of the archive's root.
 * Nothing is ever written under these names; they only look up what the archive holds.
 */
import { posix } from 'node:path';
import { AgniError } from '../../core/errors.js';

/** `./a//b/` → `a/b`; undefined when the name leaves the root (`..`, absolute). */
export function normaliseArchivePath(name: string): string | undefined {
  if (name.startsWith('/') || name.includes('\0')) return undefined;
  const n = posix.normalize(name).replace(/\/+$/, '');
  if (n === '..' || n.startsWith('../')) return undefined;
  return n === '.' ? '' : n;
}

/** A path written in manifest.json (or a symlink's target, relative to the link's directory). */
export function resolveArchivePath(name: string, what: string, from = ''): string {
  const joined = from ? posix.join(from, name) : name;
  const n = name.startsWith('/') ? undefined : normaliseArchivePath(joined);
  if (n === undefined || n === '') {
    throw new AgniError('manifest_invalid', `${what}: path "${name}" points outside the archive`, {
      hint: 'paths in an image archive are relative to its root and never use ../ to leave it',
      details: { path: name },
    });
  }
  return n;
}

const HEX64 = /^[a-f0-9]{64}$/;
const DOCKER_LAYER_DIR_FILES = new Set(['layer.tar', 'json', 'VERSION']);

/**
 * Whether a (normalised) entry name fits any image archive layout: the OCI layout
 * (`oci-layout`, `index.json`, `blobs/<alg>/<hex>`) or docker save's (`manifest.json`,
 * `repositories`, `<hex>.json`, `<hex>.tar`, `<id>/layer.tar|json|VERSION`). A root filesystem
 * fails this within its first entries (`bin/`, `usr/lib/...`), which is how it is told apart early.
 */
export function fitsImageArchive(path: string, isDirectory: boolean): boolean {
  if (path === '') return true;
  const parts = path.split('/');
  if (parts.length === 1) return !isDirectory || parts[0] === 'blobs' || HEX64.test(parts[0]!);
  if (parts[0] === 'blobs') return parts.length === 2 ? isDirectory : parts.length === 3 && !isDirectory;
  return parts.length === 2 && HEX64.test(parts[0]!) && !isDirectory && DOCKER_LAYER_DIR_FILES.has(parts[1]!);
}

/** Top-level names that mark an image archive: an OCI layout or a docker save manifest. */
export const ARCHIVE_MARKERS = ['oci-layout', 'index.json', 'manifest.json'];

export function notAnImageArchive(why: string): AgniError {
  return new AgniError('bad_request', `not an image archive: ${why}`, {
    hint: 'agni image load takes `docker save`/`podman save` tarballs and OCI layouts (a directory with oci-layout and index.json, or a tar of one); a plain root filesystem goes to `agni image import NAME ROOTFS`',
  });
}
