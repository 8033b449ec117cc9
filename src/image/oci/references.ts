/**
 * What the content store must keep: the blobs of every image record (manifest, index, config,
 * layers), the children of a recorded index that are present (another platform pulled under the
 * same name earlier may still run a function) with their configs and layers, and every image a
 * function version still pins (`oci:<manifest digest>`), which may no longer have a record.
 * Blobs are read through `read` (undefined when absent), so this stays testable without disk.
 */
import { AgniError } from '../../core/errors.js';
import type { OciImageRecord } from '../../store/oci-image-repo.js';
import { parseManifest } from './media-types.js';

export type ReadBlob = (digest: string) => Promise<Buffer | undefined>;

export interface References {
  /** every blob digest to keep */
  blobs: Set<string>;
  /** the layer digests among them: their unpacked directories are kept too */
  layers: Set<string>;
}

export interface PinnedImage {
  manifestDigest: string;
  /** who pins it, for error messages, e.g. "wordcount v3" */
  by: string;
}

export async function referencedSet(
  records: OciImageRecord[],
  pinned: PinnedImage[],
  read: ReadBlob,
): Promise<References> {
  const refs: References = { blobs: new Set(), layers: new Set() };
  const expanded = new Set<string>();

  const addLayer = (d: string) => {
    refs.blobs.add(d);
    refs.layers.add(d);
  };

  /**
   * Adds `digest` and what it points at. `strict`: an unreadable manifest is an error (its
   * config and layers would be taken); otherwise (index children) it is only skipped.
   */
  const expand = async (digest: string, what: string, strict: boolean): Promise<void> => {
    refs.blobs.add(digest);
    if (expanded.has(digest)) return;
    expanded.add(digest);
    const bytes = await read(digest);
    if (!bytes) return;
    let parsed: ReturnType<typeof parseManifest>;
    try {
      parsed = parseManifest(bytes, undefined, what);
    } catch (e) {
      if (!strict) return;
      throw new AgniError('manifest_invalid', `cannot tell what ${what} needs: ${(e as Error).message}`, {
        hint: 'nothing was removed; pull the image again to replace the damaged manifest',
        details: { digest },
        cause: e,
      });
    }
    if (parsed.kind === 'manifest') {
      refs.blobs.add(parsed.manifest.config.digest);
      for (const l of parsed.manifest.layers) addLayer(l.digest);
      return;
    }
    for (const child of parsed.index.manifests) {
      // Children never pulled are not in the store, and so nothing to keep.
      if (await read(child.digest)) await expand(child.digest, `${what}: entry ${child.digest}`, false);
    }
  };

  for (const r of records) {
    refs.blobs.add(r.manifestDigest);
    refs.blobs.add(r.configDigest);
    for (const l of r.layers) addLayer(l.digest);
    if (r.indexDigest) await expand(r.indexDigest, `the index of ${r.name}`, false);
  }
  for (const p of pinned) await expand(p.manifestDigest, `the image of ${p.by}`, true);
  return refs;
}
