/**
 * Images the content store holds whole, without asking a registry: what to push for a record, and
 * a digest reference (`REF@sha256:…`, what `agni deploy --build` deploys) resolved locally, since
 * content under a digest can only be that content wherever it came from.
 */
import type { OciImageRecord } from '../../store/oci-image-repo.js';
import type { ContentStore } from './content-store.js';
import { imageRecord } from './image-record.js';
import { type ImageManifest, type Platform, parseManifest } from './media-types.js';
import { platformRuns, selectManifestFor } from './platform.js';
import { formatReference, type ImageReference } from './reference.js';

type Parsed = ReturnType<typeof parseManifest>;

async function parsedAt(store: ContentStore, digest: string): Promise<Parsed | undefined> {
  if (!(await store.has(digest))) return undefined;
  try {
    return parseManifest(await store.read(digest), undefined, `manifest ${digest}`);
  } catch {
    return undefined;
  }
}

async function blobsPresent(store: ContentStore, m: ImageManifest): Promise<boolean> {
  for (const d of [m.config, ...m.layers]) if (!(await store.has(d.digest))) return false;
  return true;
}

/** An index whose every child manifest, config and layer is stored. */
async function indexComplete(store: ContentStore, digest: string): Promise<boolean> {
  const p = await parsedAt(store, digest);
  if (p?.kind !== 'index' || p.index.manifests.length === 0) return false;
  for (const m of p.index.manifests) {
    const c = await parsedAt(store, m.digest);
    if (c?.kind !== 'manifest' || !(await blobsPresent(store, c.manifest))) return false;
  }
  return true;
}

/**
 * What to push for a stored image: its index (with every child) when the record has one and the
 * content store holds all of it, as after a multi-platform `agni build`; otherwise the one
 * platform's manifest, as for a pulled image whose other platforms were never fetched. A target
 * pinned to one of the record's digests gets that one.
 */
export async function pushRoot(
  store: ContentStore,
  rec: Pick<OciImageRecord, 'manifestDigest' | 'indexDigest'>,
  targetDigest?: string,
): Promise<string> {
  if (targetDigest === rec.manifestDigest) return rec.manifestDigest;
  if (
    rec.indexDigest &&
    (targetDigest === rec.indexDigest || (await indexComplete(store, rec.indexDigest)))
  ) {
    return rec.indexDigest;
  }
  return rec.manifestDigest;
}

/**
 * `ref` pinned by digest, when the store holds that manifest (or index, then the first of `runsOn`
 * it offers) with its config and layers and it runs on one of `runsOn`: a record for it, not
 * kept anywhere. Undefined when anything is missing (the caller pulls). An index without any of
 * the platforms fails as a pull of it would.
 */
export async function storedByDigest(
  store: ContentStore,
  ref: ImageReference,
  runsOn: Platform[],
): Promise<OciImageRecord | undefined> {
  if (!ref.digest) return undefined;
  const top = await parsedAt(store, ref.digest);
  if (!top) return undefined;
  let indexDigest: string | null = null;
  let manifestDigest = ref.digest;
  let manifest: ImageManifest;
  if (top.kind === 'index') {
    indexDigest = ref.digest;
    manifestDigest = selectManifestFor(top.index.manifests, runsOn, formatReference(ref)).digest;
    const child = await parsedAt(store, manifestDigest);
    if (child?.kind !== 'manifest') return undefined;
    manifest = child.manifest;
  } else manifest = top.manifest;
  if (!(await blobsPresent(store, manifest))) return undefined;
  const config = JSON.parse((await store.read(manifest.config.digest)).toString('utf8')) as Partial<
    Record<'os' | 'architecture' | 'variant', unknown>
  >;
  if (typeof config.os !== 'string' || typeof config.architecture !== 'string') return undefined;
  const platform: Platform = {
    os: config.os,
    architecture: config.architecture,
    ...(typeof config.variant === 'string' ? { variant: config.variant } : {}),
  };
  if (!runsOn.some((p) => platformRuns(platform, p))) return undefined;
  return imageRecord(formatReference(ref), {
    manifestDigest,
    indexDigest,
    configDigest: manifest.config.digest,
    layers: manifest.layers,
    platform,
    sizeBytes: manifest.config.size + manifest.layers.reduce((n, l) => n + l.size, 0),
  });
}
