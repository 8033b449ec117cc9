/**
 * Pulling an image: its manifest (through an index to this node's platform), then the config and
 * layers into the content store, each checked against its digest. Progress goes to `onEvent`.
 */
import { AgniError } from '../../core/errors.js';
import { type ContentStore, mismatch, sha256Digest } from './content-store.js';
import type { ImageContent } from './image-record.js';
import { type Descriptor, type ImageManifest, type Platform, parseManifest } from './media-types.js';
import { formatPlatform, hostPlatform, platformRuns, selectManifest, selectManifestFor } from './platform.js';
import { formatReference, type ImageReference, manifestSelector } from './reference.js';
import type { RegistryClient } from './registry-client.js';

export type PullEvent =
  | {
      type: 'resolved';
      reference: string;
      manifestDigest: string;
      platform: string;
      layers: number;
      totalBytes: number;
    }
  | {
      type: 'blob';
      digest: string;
      kind: 'config' | 'layer';
      done: number;
      total: number;
      bytesPerSec: number;
    }
  | {
      type: 'blob-done';
      digest: string;
      kind: 'config' | 'layer';
      fetched: number;
      resumedFrom: number;
      cached: boolean;
    };

export interface PulledImage extends ImageContent {
  reference: string;
}

const LAYER_CONCURRENCY = 3;

async function fetchManifest(
  client: RegistryClient,
  ref: ImageReference,
  selector: string,
  store: ContentStore,
) {
  const what = `${formatReference(ref)}${selector.startsWith('sha256:') ? ` (${selector})` : ''}`;
  const m = await client.getManifest(ref.repository, selector);
  const digest = sha256Digest(m.bytes);
  const expected = selector.startsWith('sha256:') ? selector : m.digest;
  if (expected && expected !== digest) throw mismatch(expected, digest, `manifest of ${what}`);
  const parsed = parseManifest(m.bytes, m.contentType, `manifest of ${what}`);
  return { digest, bytes: m.bytes, parsed, store: () => store.putBytes(m.bytes, digest) };
}

export async function pullImage(
  client: RegistryClient,
  store: ContentStore,
  ref: ImageReference,
  opts: {
    platform?: Platform;
    /**
     * What the node runs, best first: an index gives the first it offers, and a single-platform
     * image for none of them is refused before its layers are fetched. Overrides `platform`.
     */
    runsOn?: Platform[];
    onEvent?: (e: PullEvent) => void;
  } = {},
): Promise<PulledImage> {
  const wants = opts.runsOn ?? [opts.platform ?? hostPlatform()];
  const want = wants[0]!;
  const name = formatReference(ref);
  let top = await fetchManifest(client, ref, manifestSelector(ref), store);
  let indexDigest: string | null = null;
  const toStore: (() => Promise<string>)[] = [top.store];
  if (top.parsed.kind === 'index') {
    indexDigest = top.digest;
    const chosen = opts.runsOn
      ? selectManifestFor(top.parsed.index.manifests, wants, name)
      : selectManifest(top.parsed.index.manifests, want, name);
    top = await fetchManifest(client, ref, chosen.digest, store);
    if (top.parsed.kind !== 'manifest') {
      throw new AgniError('manifest_invalid', `${name}: the index entry ${chosen.digest} is itself an index`);
    }
    toStore.push(top.store);
  }
  const manifest = (top.parsed as { manifest: ImageManifest }).manifest;
  const blobs: (Descriptor & { kind: 'config' | 'layer' })[] = [
    { ...manifest.config, kind: 'config' },
    ...manifest.layers.map((l) => ({ ...l, kind: 'layer' as const })),
  ];
  const totalBytes = blobs.reduce((n, b) => n + b.size, 0);
  const emit = opts.onEvent ?? (() => {});
  const fetchBlob = async (b: (typeof blobs)[number]) => {
    const cached = await store.has(b.digest);
    const started = Date.now();
    let base = -1;
    const r = await store.ingest(
      b.digest,
      b.size,
      (offset) => client.getBlob(ref.repository, b.digest, offset),
      (done, total) => {
        if (base < 0) base = done;
        const secs = (Date.now() - started) / 1000;
        emit({
          type: 'blob',
          digest: b.digest,
          kind: b.kind,
          done,
          total,
          bytesPerSec: secs > 0 ? Math.round((done - base) / secs) : 0,
        });
      },
    );
    emit({
      type: 'blob-done',
      digest: b.digest,
      kind: b.kind,
      fetched: r.fetched,
      resumedFrom: r.resumedFrom,
      cached,
    });
  };
  // The config comes first: the platform check below needs it before any layer is fetched.
  await fetchBlob(blobs[0]!);
  const config = JSON.parse((await store.read(manifest.config.digest)).toString('utf8')) as Partial<{
    os: string;
    architecture: string;
    variant: string;
  }>;
  const platform: Platform = {
    os: config.os ?? want.os,
    architecture: config.architecture ?? want.architecture,
    ...(config.variant ? { variant: config.variant } : {}),
  };
  if (opts.runsOn && !wants.some((w) => platformRuns(platform, w))) {
    throw new AgniError(
      'platform_unsupported',
      `${name} is a ${formatPlatform(platform)} image; this node runs ${wants.map(formatPlatform).join(', ')}`,
      {
        hint: 'push a multi-platform index, set an alias for this arch (agni image alias set CANONICAL --arch ARCH IMAGE), or emulate the arch with qemu-user-static',
        details: { platforms: [formatPlatform(platform)], wanted: wants.map(formatPlatform) },
      },
    );
  }
  emit({
    type: 'resolved',
    reference: name,
    manifestDigest: top.digest,
    platform: formatPlatform(platform),
    layers: manifest.layers.length,
    totalBytes,
  });
  const queue = blobs.slice(1);
  const workers = Array.from({ length: Math.min(LAYER_CONCURRENCY, queue.length) }, async () => {
    for (let b = queue.shift(); b; b = queue.shift()) await fetchBlob(b);
  });
  await Promise.all(workers);
  // Manifests are stored last so a failed pull leaves no manifest pointing at missing blobs.
  for (const s of toStore) await s();
  return {
    reference: name,
    manifestDigest: top.digest,
    indexDigest,
    configDigest: manifest.config.digest,
    layers: manifest.layers.map((l) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType })),
    platform,
    sizeBytes: totalBytes,
  };
}
