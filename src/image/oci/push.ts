/**
 * Pushing what the content store holds: for each manifest (an index's children first), its blobs
 * unless the registry has them, then the manifest itself; the top one under the tag.
 */
import { AgniError } from '../../core/errors.js';
import type { ContentStore } from './content-store.js';
import { parseManifest } from './media-types.js';
import { formatReference, type ImageReference, manifestSelector } from './reference.js';
import type { RegistryClient } from './registry-client.js';

export type PushEvent =
  | { type: 'blob'; digest: string; size: number; skipped: boolean }
  | { type: 'manifest'; digest: string; ref: string };

export interface PushResult {
  reference: string;
  digest: string;
  blobsPushed: number;
  blobsSkipped: number;
  bytesPushed: number;
}

export async function pushImage(
  client: RegistryClient,
  store: ContentStore,
  manifestDigest: string,
  ref: ImageReference,
  onEvent: (e: PushEvent) => void = () => {},
): Promise<PushResult> {
  const result: PushResult = {
    reference: formatReference(ref),
    digest: manifestDigest,
    blobsPushed: 0,
    blobsSkipped: 0,
    bytesPushed: 0,
  };
  if (ref.digest && ref.digest !== manifestDigest) {
    throw new AgniError(
      'bad_request',
      `${formatReference(ref)}: the digest does not match the image (${manifestDigest})`,
    );
  }
  const pushOne = async (digest: string, target: string): Promise<void> => {
    const bytes = await store.read(digest);
    const parsed = parseManifest(bytes, undefined, `manifest ${digest}`);
    let mediaType: string;
    if (parsed.kind === 'index') {
      for (const m of parsed.index.manifests) await pushOne(m.digest, m.digest);
      mediaType = parsed.index.mediaType;
    } else {
      for (const b of [parsed.manifest.config, ...parsed.manifest.layers]) {
        if (!(await store.has(b.digest))) {
          throw new AgniError('not_found', `blob ${b.digest} of ${digest} is not in the content store`);
        }
        const pushed = await client.pushBlob(ref.repository, b.digest, b.size, store.path(b.digest));
        if (pushed) {
          result.blobsPushed++;
          result.bytesPushed += b.size;
        } else result.blobsSkipped++;
        onEvent({ type: 'blob', digest: b.digest, size: b.size, skipped: !pushed });
      }
      mediaType = parsed.manifest.mediaType;
    }
    await client.putManifest(ref.repository, target, bytes, mediaType);
    onEvent({ type: 'manifest', digest, ref: target });
  };
  await pushOne(manifestDigest, manifestSelector(ref));
  return result;
}
