/**
 * `agni build` on the server: the base image (agni.yaml `runtime:`, a registry reference) for each
 * platform asked for, the function's layer, and per platform a config and manifest (build.ts),
 * with an index over them when there is more than one; all into the content store, and a record
 * under the tag so `agni image push` / `agni push` and deploys find it.
 *
 * The base per platform: OciImages records one platform per name, so a multi-platform base keeps
 * one record (ending on the node's own platform, pulled last) and the other platforms live in the
 * content store only, found again through the recorded index (references.ts keeps an index's
 * children that are present, so a prune does not take them). `pull` re-resolves the base's tag.
 */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { AgniError } from '../../core/errors.js';
import type { Manifest } from '../../core/manifest.js';
import type { OciImageRecord } from '../../store/oci-image-repo.js';
import { type BaseImage, type BuiltManifest, buildIndex, buildManifest, createdAt } from './build.js';
import { buildFunctionLayer } from './build-layer.js';
import type { ContentStore } from './content-store.js';
import { imageRecord } from './image-record.js';
import { type ImageIndex, MT, type Platform, parseManifest } from './media-types.js';
import { formatPlatform, parsePlatform, platformRuns, selectManifest } from './platform.js';
import type { OciImages } from './pull-service.js';
import { formatReference, type ImageReference, parseReference } from './reference.js';

export interface BuildOptions {
  /** where the image is recorded (default agni.local/<name>:latest) */
  tag?: string;
  /** platforms to build for, deduplicated; empty: the node's first */
  platforms: Platform[];
  /** the node's platforms, best first (its manifest is the record's manifestDigest) */
  nodePlatforms: Platform[];
  /** re-resolve the base's tag at its registry even when the content store has it */
  pull?: boolean;
  insecure?: boolean;
  /** SOURCE_DATE_EPOCH's date: every mtime in the layer and `created` */
  sourceDate: Date;
  /** an empty directory for the layer file; the caller removes it */
  scratch: string;
}

export interface BuildResult {
  reference: string;
  manifestDigest: string;
  indexDigest: string | null;
  configDigest: string;
  platforms: string[];
  manifests: { platform: string; digest: string }[];
  /** layers of the node's manifest, the function's included */
  layers: number;
  /** config and layers of the node's manifest */
  sizeBytes: number;
  base: { reference: string; digests: string[] };
  layer: { digest: string; diffId: string; size: number };
}

export function defaultTag(fn: string): string {
  return `agni.local/${fn}:latest`;
}

function runtimeError(runtime: string, why: string, hint: string, cause?: unknown): AgniError {
  return new AgniError('manifest_invalid', `agni.yaml: field \`runtime\`: ${why}`, {
    hint,
    details: { file: 'agni.yaml', field: 'runtime', runtime },
    ...(cause ? { cause } : {}),
  });
}

/** agni.yaml's runtime as a base reference: never `host` (nothing to build on). */
export function baseReference(runtime: string): ImageReference {
  if (runtime === 'host') {
    throw runtimeError(
      runtime,
      '`host` is not an image: agni build needs a base image from a registry',
      'set runtime: to an image reference such as busybox:1.36 or 127.0.0.1:5000/team/base:1',
    );
  }
  try {
    return parseReference(runtime);
  } catch (e) {
    throw runtimeError(
      runtime,
      `"${runtime}" is not an image reference`,
      'set runtime: to an image reference such as busybox:1.36 or 127.0.0.1:5000/team/base:1',
      e,
    );
  }
}

export function tagReference(tag: string): ImageReference {
  const ref = parseReference(tag);
  if (ref.digest) {
    throw new AgniError('bad_request', `--tag "${tag}": a tag cannot carry a digest (the build makes it)`, {
      hint: 'give name:tag, e.g. 127.0.0.1:5000/team/fn:v1',
    });
  }
  return ref;
}

/** Deduplicated, in the order given; the one the node runs first is the primary. */
export function planPlatforms(
  asked: Platform[],
  node: Platform[],
): { platforms: Platform[]; primary: number } {
  const seen = new Set<string>();
  const platforms = (asked.length ? asked : [node[0]!]).filter((p) => {
    const k = formatPlatform(p);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  for (const n of node) {
    const i = platforms.findIndex((p) => platformRuns(p, n));
    if (i >= 0) return { platforms, primary: i };
  }
  return { platforms, primary: 0 };
}

async function readJson(store: ContentStore, digest: string): Promise<unknown> {
  return JSON.parse((await store.read(digest)).toString('utf8'));
}

async function completeManifest(store: ContentStore, digest: string): Promise<boolean> {
  if (!(await store.has(digest))) return false;
  const p = parseManifest(await store.read(digest), undefined, `manifest ${digest}`);
  if (p.kind !== 'manifest') return false;
  for (const d of [p.manifest.config, ...p.manifest.layers]) if (!(await store.has(d.digest))) return false;
  return true;
}

async function readIndex(store: ContentStore, digest: string | null): Promise<ImageIndex | undefined> {
  if (!digest || !(await store.has(digest))) return undefined;
  const p = parseManifest(await store.read(digest), undefined, `index ${digest}`);
  return p.kind === 'index' ? p.index : undefined;
}

/** The base's manifest for `want` when the content store has all of it already. */
async function storedBase(
  oci: OciImages,
  name: string,
  want: Platform,
): Promise<{ digest: string; index?: ImageIndex } | undefined> {
  const rec = await oci.repo.get(name);
  if (!rec) return undefined;
  const index = await readIndex(oci.content, rec.indexDigest);
  let digest: string;
  if (index) {
    try {
      digest = selectManifest(index.manifests, want, name).digest;
    } catch {
      return undefined;
    }
  } else if (platformRuns(parsePlatform(rec.platform), want)) digest = rec.manifestDigest;
  else return undefined;
  return (await completeManifest(oci.content, digest)) ? { digest, index } : undefined;
}

/** The diff_id of a stored layer: its uncompressed sha256. */
async function diffIdOf(store: ContentStore, digest: string, mediaType: string): Promise<string> {
  if (mediaType.endsWith('+zstd')) {
    throw new AgniError('manifest_invalid', `base layer ${digest}: zstd layers are not supported`, {
      hint: 'use a base image with gzip layers',
    });
  }
  if (mediaType === MT.ociLayer) return digest;
  const h = createHash('sha256');
  await pipeline(Readable.from(createReadStream(store.path(digest))), createGunzip(), async (src) => {
    for await (const c of src) h.update(c as Buffer);
  });
  return `sha256:${h.digest('hex')}`;
}

async function loadBase(
  store: ContentStore,
  digest: string,
  index: ImageIndex | undefined,
  want: Platform,
): Promise<BaseImage> {
  const p = parseManifest(await store.read(digest), undefined, `base manifest ${digest}`);
  if (p.kind !== 'manifest') throw new AgniError('manifest_invalid', `base ${digest} is an index`);
  const manifest = p.manifest;
  const config = (await readJson(store, manifest.config.digest)) as Record<string, unknown>;
  if (!config || typeof config !== 'object' || Array.isArray(config)) {
    throw new AgniError('manifest_invalid', `base config ${manifest.config.digest}: not a JSON object`);
  }
  const rootfs = config.rootfs as { diff_ids?: unknown } | undefined;
  const listed = Array.isArray(rootfs?.diff_ids) ? (rootfs.diff_ids as unknown[]) : [];
  // Real images list one diff_id per layer; a config that does not is repaired from the layers.
  const diffIds =
    listed.length === manifest.layers.length && listed.every((d) => typeof d === 'string')
      ? (listed as string[])
      : await Promise.all(manifest.layers.map((l) => diffIdOf(store, l.digest, l.mediaType)));
  const entry = index?.manifests.find((m) => m.digest === digest)?.platform;
  const platform: Platform = entry ?? {
    os: typeof config.os === 'string' ? config.os : want.os,
    architecture: typeof config.architecture === 'string' ? config.architecture : want.architecture,
    ...(typeof config.variant === 'string' ? { variant: config.variant } : {}),
  };
  return { digest, manifest, config, diffIds, platform };
}

/** Finds (or pulls) the base for `want`; `single` when the whole build is for one platform. */
async function resolveBase(
  oci: OciImages,
  name: string,
  want: Platform,
  o: { pull?: boolean; insecure?: boolean; multi: boolean },
): Promise<{ base: BaseImage; pulled: boolean }> {
  if (!o.pull) {
    const have = await storedBase(oci, name, want);
    if (have) return { base: await loadBase(oci.content, have.digest, have.index, want), pulled: false };
  }
  let rec: OciImageRecord;
  try {
    rec = await oci.pull(name, { platform: formatPlatform(want), insecure: o.insecure });
  } catch (e) {
    if (!(e instanceof AgniError)) throw e;
    // pull's messages start with the reference already
    const why = e.message.startsWith(`${name}: `) ? e.message.slice(name.length + 2) : e.message;
    throw new AgniError(e.code, `agni.yaml: field \`runtime\`: base image ${name}: ${why}`, {
      ...(e.hint ? { hint: e.hint } : {}),
      details: { ...(e.details ?? {}), file: 'agni.yaml', field: 'runtime' },
      cause: e,
    });
  }
  if (!platformRuns(parsePlatform(rec.platform), want)) {
    throw new AgniError(
      'platform_unsupported',
      `agni.yaml: field \`runtime\`: base image ${name} is a single-platform ${rec.platform} image; ${formatPlatform(want)} needs a base that offers it`,
      {
        hint: o.multi
          ? 'a multi-platform build needs a base image index with every platform asked for'
          : `build for ${rec.platform} (--platform ${rec.platform}), or use a base with ${formatPlatform(want)}`,
        details: { file: 'agni.yaml', field: 'runtime', platforms: [rec.platform] },
      },
    );
  }
  const index = await readIndex(oci.content, rec.indexDigest);
  return { base: await loadBase(oci.content, rec.manifestDigest, index, want), pulled: true };
}

/** Runs under the content store's GC gate: a prune must not take blobs written before the record. */
export function buildFunctionImage(
  oci: OciImages,
  dir: string,
  fn: Manifest,
  o: BuildOptions,
): Promise<BuildResult> {
  return oci.gate.shared(() => buildNow(oci, dir, fn, o));
}

async function buildNow(oci: OciImages, dir: string, fn: Manifest, o: BuildOptions): Promise<BuildResult> {
  const tag = tagReference(o.tag ?? defaultTag(fn.name));
  const baseRef = baseReference(fn.runtime);
  // An image recorded under exactly this name (`agni image import NAME`) before any registry's.
  const baseName = (await oci.repo.get(fn.runtime)) ? fn.runtime : formatReference(baseRef);
  const { platforms, primary } = planPlatforms(o.platforms, o.nodePlatforms);
  const multi = platforms.length > 1;

  // Others first and the node's own last, so the base's one record ends on the platform this node runs.
  const order = [...platforms.keys()].filter((i) => i !== primary).concat(primary);
  const bases: BaseImage[] = new Array(platforms.length);
  let pulledOther = false;
  for (const i of order) {
    const r = await resolveBase(oci, baseName, platforms[i]!, { ...o, multi });
    bases[i] = r.base;
    if (i !== primary) pulledOther ||= r.pulled;
  }
  if (pulledOther) {
    const rec = await oci.repo.get(baseName);
    if (rec && rec.manifestDigest !== bases[primary]!.digest) {
      await oci.pull(baseName, { platform: formatPlatform(platforms[primary]!), insecure: o.insecure });
    }
  }

  const layerFile = join(o.scratch, 'layer.tar.gz');
  const layer = await buildFunctionLayer(dir, layerFile, { mtime: o.sourceDate });
  await oci.content.ingest(layer.digest, layer.size, async () => ({
    body: createReadStream(layerFile),
    offset: 0,
  }));

  const spec = { fn, baseName, created: createdAt(o.sourceDate) };
  const built: BuiltManifest[] = [];
  for (const base of bases) {
    const m = buildManifest(base, layer, spec);
    await oci.content.putBytes(m.config, m.configDigest);
    await oci.content.putBytes(m.manifest, m.manifestDigest);
    built.push(m);
  }
  let indexDigest: string | null = null;
  if (multi) {
    const idx = buildIndex(built);
    indexDigest = await oci.content.putBytes(idx.bytes, idx.digest);
  }
  const top = built[primary]!;
  const reference = formatReference(tag);
  await oci.repo.put(imageRecord(reference, { ...top, indexDigest }));
  return {
    reference,
    manifestDigest: top.manifestDigest,
    indexDigest,
    configDigest: top.configDigest,
    platforms: built.map((m) => formatPlatform(m.platform)),
    manifests: built.map((m) => ({ platform: formatPlatform(m.platform), digest: m.manifestDigest })),
    layers: top.layers.length,
    sizeBytes: top.sizeBytes,
    base: { reference: baseName, digests: bases.map((b) => b.digest) },
    layer: { digest: layer.digest, diffId: layer.diffId, size: layer.size },
  };
}
