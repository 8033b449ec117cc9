/**
 * Second pass of `agni image load`: what a staged archive holds. An OCI layout (index.json,
 * blobs/sha256/...) keeps its manifests as they are; a docker save tarball (manifest.json with
 * Config, RepoTags and Layers paths) becomes an OCI manifest over the same config and layer
 * bytes: its layers are plain tars (`application/vnd.oci.image.layer.v1.tar`, or gzip/zstd when
 * their first bytes say so), the same digests `docker save` gives them (the config's diff_ids).
 * When an archive has both (Docker 25 writes both) the OCI layout wins: its digests are the
 * image's real ones. Every blob used must be in the archive with the size its descriptor gives;
 * the digests were checked while staging. Nothing here writes to the content store.
 */
import { AgniError } from '../../core/errors.js';
import { resolveArchivePath } from './archive-paths.js';
import type { StagedArchive, StagedFile } from './archive-stage.js';
import { sha256Digest } from './content-store.js';
import type { ImageContent } from './image-record.js';
import { type Descriptor, MT, type Platform, parseManifest } from './media-types.js';
import { selectManifestFor } from './platform.js';
import { formatReference, parseReference } from './reference.js';

export interface ArchiveView extends StagedArchive {
  /** the bytes of a staged file (small ones only: manifests, configs, index.json) */
  read(f: StagedFile): Promise<Buffer>;
}

export interface PlannedBlob {
  digest: string;
  size: number;
  /** layers and configs go in first, manifests after them and indexes last */
  rank: 0 | 1 | 2;
  staged?: StagedFile;
  bytes?: Buffer;
}

export interface PlannedImage extends ImageContent {
  names: string[];
}

export interface ArchivePlan {
  format: 'oci-layout' | 'docker-archive';
  images: PlannedImage[];
  blobs: Map<string, PlannedBlob>;
}

interface Candidate {
  names: string[];
  what: string;
  resolve(): Promise<Omit<PlannedImage, 'names'>>;
}

const MAX_JSON = 16 * 1024 * 1024;
const MAX_LINK_HOPS = 16;

function invalid(what: string, why: string, hint?: string): AgniError {
  return new AgniError('manifest_invalid', `${what}: ${why}`, hint ? { hint } : {});
}

function missing(what: string, name: string): AgniError {
  return new AgniError('manifest_invalid', `${what}: "${name}" is not in the archive`, {
    hint: 'the archive is incomplete; save it again',
    details: { missing: name },
  });
}

/** The staged file under a name, following links inside the archive. */
function entry(view: ArchiveView, name: string, what: string): StagedFile {
  let p = resolveArchivePath(name, what);
  for (let hop = 0; hop <= MAX_LINK_HOPS; hop++) {
    const f = view.files.get(p);
    if (f) return f;
    const target = view.links.get(p);
    if (target === undefined) break;
    p = target;
  }
  throw missing(what, name);
}

async function readJson(view: ArchiveView, f: StagedFile, what: string): Promise<unknown> {
  if (f.size > MAX_JSON) throw invalid(what, `${f.size} bytes is too large for a JSON document`);
  try {
    return JSON.parse((await view.read(f)).toString('utf8'));
  } catch {
    throw invalid(what, 'not valid JSON');
  }
}

export function normaliseName(text: string, what: string): string {
  try {
    return formatReference(parseReference(text));
  } catch (e) {
    throw new AgniError('bad_request', `${what}: ${(e as Error).message}`, {
      hint: (e as AgniError).hint,
      details: { name: text },
    });
  }
}

/** The blob of a descriptor, present with the size the descriptor gives. */
function blob(view: ArchiveView, d: Descriptor, what: string): StagedFile | undefined {
  const f = view.files.get(`blobs/sha256/${d.digest.slice(7)}`);
  if (f && f.size !== d.size) {
    throw invalid(
      `${what} (${d.digest})`,
      `the archive's blob has ${f.size} bytes, the descriptor says ${d.size}`,
    );
  }
  return f;
}

function needBlob(view: ArchiveView, d: Descriptor, what: string): StagedFile {
  const f = blob(view, d, what);
  if (!f) throw missing(what, d.digest);
  return f;
}

function configPlatform(config: unknown, what: string): Platform {
  const c = config as { os?: unknown; architecture?: unknown; variant?: unknown } | null;
  if (!c || typeof c !== 'object' || typeof c.os !== 'string' || typeof c.architecture !== 'string') {
    throw invalid(what, 'the image config has no `os` and `architecture`');
  }
  return {
    os: c.os,
    architecture: c.architecture,
    ...(typeof c.variant === 'string' && c.variant ? { variant: c.variant } : {}),
  };
}

function add(blobs: Map<string, PlannedBlob>, b: PlannedBlob): void {
  if (!blobs.has(b.digest)) blobs.set(b.digest, b);
}

/** A single-platform OCI or Docker manifest whose config and layers are all in the archive. */
async function ociManifest(view: ArchiveView, d: Descriptor, what: string, blobs: Map<string, PlannedBlob>) {
  const mf = needBlob(view, d, what);
  const parsed = parseManifest(await view.read(mf), d.mediaType, what);
  if (parsed.kind !== 'manifest') throw invalid(what, 'expected an image manifest, found an index');
  const m = parsed.manifest;
  const cf = needBlob(view, m.config, `${what}: config`);
  const platform = configPlatform(await readJson(view, cf, `${what}: config`), `${what}: config`);
  const layers = m.layers.map((l, i) => ({ l, f: needBlob(view, l, `${what}: layers[${i}]`) }));
  add(blobs, { digest: m.config.digest, size: m.config.size, rank: 0, staged: cf });
  for (const { l, f } of layers) add(blobs, { digest: l.digest, size: l.size, rank: 0, staged: f });
  add(blobs, { digest: d.digest, size: d.size, rank: 1, staged: mf });
  return {
    manifestDigest: d.digest,
    configDigest: m.config.digest,
    layers: m.layers.map((l) => ({ digest: l.digest, size: l.size, mediaType: l.mediaType })),
    platform,
    sizeBytes: m.config.size + m.layers.reduce((n, l) => n + l.size, 0),
  };
}

/**
 * An index.json entry: a manifest, or an index kept whole — every platform whose manifest and
 * blobs the archive has is stored, and the record points at the one this node runs best.
 */
async function ociEntry(
  view: ArchiveView,
  d: Descriptor,
  what: string,
  platforms: Platform[],
  blobs: Map<string, PlannedBlob>,
): Promise<Omit<PlannedImage, 'names'>> {
  const top = needBlob(view, d, what);
  const parsed = parseManifest(await view.read(top), d.mediaType, what);
  if (parsed.kind === 'manifest') return { ...(await ociManifest(view, d, what, blobs)), indexDigest: null };
  const local = new Map<string, PlannedBlob>();
  const complete: { desc: Descriptor; image: Awaited<ReturnType<typeof ociManifest>> }[] = [];
  for (const [i, c] of parsed.index.manifests.entries()) {
    const cwhat = `${what}: manifests[${i}]`;
    // Platforms the archive does not carry (a partial save of a multi-platform image) are left out.
    if (!blob(view, c, cwhat)) continue;
    const mine = new Map<string, PlannedBlob>();
    try {
      complete.push({ desc: c, image: await ociManifest(view, c, cwhat, mine) });
    } catch (e) {
      if ((e as AgniError).details?.missing) continue;
      throw e;
    }
    for (const b of mine.values()) add(local, b);
  }
  if (complete.length === 0)
    throw invalid(what, "the archive has none of the index's manifests with all their blobs");
  let chosen: Descriptor;
  try {
    chosen = selectManifestFor(
      complete.map((c) => c.desc),
      platforms,
      what,
    );
  } catch (e) {
    if ((e as AgniError).code !== 'platform_unsupported') throw e;
    throw new AgniError((e as AgniError).code, (e as AgniError).message, {
      hint: 'pick the platform the name should point at with --platform os/arch[/variant]',
      details: (e as AgniError).details,
    });
  }
  for (const b of local.values()) add(blobs, b);
  add(blobs, { digest: d.digest, size: d.size, rank: 2, staged: top });
  const image = complete.find((c) => c.desc.digest === chosen.digest)!.image;
  return { ...image, indexDigest: d.digest };
}

function nameAnnotation(d: Descriptor): string | undefined {
  const a = d.annotations ?? {};
  return a['io.containerd.image.name'] ?? a['org.opencontainers.image.ref.name'];
}

async function ociCandidates(
  view: ArchiveView,
  platforms: Platform[],
  blobs: Map<string, PlannedBlob>,
  tagsByConfig: Map<string, string[]>,
): Promise<Candidate[]> {
  const idx = view.files.get('index.json');
  if (!idx) throw invalid('index.json', 'missing');
  const layout = view.files.get('oci-layout');
  if (layout) {
    const l = (await readJson(view, layout, 'oci-layout')) as { imageLayoutVersion?: unknown } | null;
    if (!l || typeof l.imageLayoutVersion !== 'string') {
      throw invalid('oci-layout', 'field `imageLayoutVersion` missing');
    }
  }
  if (idx.size > MAX_JSON) throw invalid('index.json', 'too large');
  const parsed = parseManifest(await view.read(idx), MT.ociIndex, 'index.json');
  if (parsed.kind !== 'index') throw invalid('index.json', 'is not an image index');
  const out: Candidate[] = [];
  for (const [i, d] of parsed.index.manifests.entries()) {
    const what = `index.json: manifests[${i}]`;
    const annotated = nameAnnotation(d);
    let names = annotated ? [normaliseName(annotated, `${what}: name annotation`)] : [];
    if (names.length === 0 && tagsByConfig.size > 0) {
      // Docker 25 writes RepoTags in manifest.json too: the config digest links the two.
      const f = blob(view, d, what);
      const p = f ? parseManifest(await view.read(f), d.mediaType, what) : undefined;
      if (p?.kind === 'manifest') names = tagsByConfig.get(p.manifest.config.digest) ?? [];
    }
    out.push({ names, what, resolve: () => ociEntry(view, d, what, platforms, blobs) });
  }
  return out;
}

interface DockerEntry {
  Config: string;
  RepoTags: string[];
  Layers: string[];
}

function dockerEntries(raw: unknown): DockerEntry[] {
  if (!Array.isArray(raw)) throw invalid('manifest.json', 'expected a list of images');
  return raw.map((e, i) => {
    const what = `manifest.json[${i}]`;
    const o = e as Partial<Record<keyof DockerEntry, unknown>> | null;
    if (!o || typeof o !== 'object') throw invalid(what, 'not an object');
    if (typeof o.Config !== 'string') throw invalid(what, 'field `Config` is not a path');
    if (!Array.isArray(o.Layers) || o.Layers.some((l) => typeof l !== 'string')) {
      throw invalid(what, 'field `Layers` is not a list of paths');
    }
    const tags = o.RepoTags ?? [];
    if (!Array.isArray(tags) || tags.some((t) => typeof t !== 'string')) {
      throw invalid(what, 'field `RepoTags` is not a list of names');
    }
    // Paths are checked for every image, also those not loaded: a ../ anywhere refuses the archive.
    resolveArchivePath(o.Config, `${what}.Config`);
    for (const [j, l] of (o.Layers as string[]).entries()) resolveArchivePath(l, `${what}.Layers[${j}]`);
    return { Config: o.Config, RepoTags: tags as string[], Layers: o.Layers as string[] };
  });
}

function layerType(head: Buffer): string {
  if (head[0] === 0x1f && head[1] === 0x8b) return MT.ociLayerGzip;
  if (head.readUInt32LE(0) === 0xfd2fb528) return MT.ociLayerZstd;
  return MT.ociLayer;
}

async function dockerImage(
  view: ArchiveView,
  e: DockerEntry,
  what: string,
  blobs: Map<string, PlannedBlob>,
): Promise<Omit<PlannedImage, 'names'>> {
  // Every path is resolved (and refused if it leaves the archive) before anything is read.
  const cf = entry(view, e.Config, `${what}.Config`);
  const layers = e.Layers.map((p, i) => entry(view, p, `${what}.Layers[${i}]`));
  const config = await readJson(view, cf, `${what}.Config (${e.Config})`);
  const platform = configPlatform(config, `${what}.Config (${e.Config})`);
  const diffIds = (config as { rootfs?: { diff_ids?: unknown } }).rootfs?.diff_ids;
  const descs = layers.map((f) => ({ mediaType: layerType(f.head), digest: f.digest, size: f.size }));
  if (Array.isArray(diffIds) && diffIds.length > 0) {
    // A plain tar layer's digest is its diff_id; a compressed one would have to be unpacked to check.
    if (diffIds.length !== descs.length) {
      throw invalid(what, `${descs.length} layer(s) but the config lists ${diffIds.length} diff_ids`);
    }
    descs.forEach((d, i) => {
      if (d.mediaType === MT.ociLayer && diffIds[i] !== d.digest) {
        throw invalid(
          `${what}.Layers[${i}] (${e.Layers[i]})`,
          `content is ${d.digest}, the config's rootfs.diff_ids[${i}] says ${String(diffIds[i])}`,
          'the archive is damaged or was altered; nothing was loaded',
        );
      }
    });
  }
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: MT.ociConfig, digest: cf.digest, size: cf.size },
      layers: descs,
    }),
  );
  const manifestDigest = sha256Digest(manifest);
  add(blobs, { digest: cf.digest, size: cf.size, rank: 0, staged: cf });
  for (const f of layers) add(blobs, { digest: f.digest, size: f.size, rank: 0, staged: f });
  add(blobs, { digest: manifestDigest, size: manifest.length, rank: 1, bytes: manifest });
  return {
    manifestDigest,
    indexDigest: null,
    configDigest: cf.digest,
    layers: descs,
    platform,
    sizeBytes: cf.size + descs.reduce((n, d) => n + d.size, 0),
  };
}

/**
 * Which images to load. With `name`: the only image (renamed), or the one of several that carries
 * that name. Without: every named image under all its names; unnamed ones are skipped, and an
 * archive with no named image at all needs `name`.
 */
export function chooseImages<T extends { names: string[] }>(
  cands: T[],
  name: string | undefined,
): { cand: T; names: string[] }[] {
  if (cands.length === 0) throw invalid('archive', 'holds no image');
  if (name !== undefined) {
    const n = normaliseName(name, '--name');
    if (cands.length === 1) return [{ cand: cands[0]!, names: [n] }];
    const match = cands.find((c) => c.names.includes(n));
    if (match) return [{ cand: match, names: [n] }];
    const all = cands.flatMap((c) => c.names);
    throw new AgniError(
      'image_not_found',
      `--name ${name}: the archive has ${cands.length} images, none named ${n}`,
      {
        hint: all.length ? `it has ${all.join(', ')}` : 'its images carry no names',
        details: { names: all },
      },
    );
  }
  const named = cands.filter((c) => c.names.length > 0);
  if (named.length === 0) {
    throw new AgniError('bad_request', `the archive's image${cands.length > 1 ? 's have' : ' has'} no name`, {
      hint: 'give it one with --name REF, e.g. --name 127.0.0.1:5000/team/fn:v1',
    });
  }
  return named.map((c) => ({ cand: c, names: [...new Set(c.names)] }));
}

export async function planArchive(
  view: ArchiveView,
  o: { name?: string; platforms: Platform[] },
): Promise<ArchivePlan> {
  const blobs = new Map<string, PlannedBlob>();
  const mj = view.files.get('manifest.json');
  const docker = mj ? dockerEntries(await readJson(view, mj, 'manifest.json')) : [];
  const isOci = view.files.has('index.json');
  if (!isOci && !mj) {
    throw new AgniError(
      'bad_request',
      'not an image archive: it has neither index.json (OCI layout) nor manifest.json (docker save)',
      {
        hint: 'agni image load takes `docker save`/`podman save` tarballs and OCI layouts; a plain root filesystem goes to `agni image import NAME ROOTFS`',
      },
    );
  }
  let cands: Candidate[];
  if (isOci) {
    const tags = new Map<string, string[]>();
    for (const [i, e] of docker.entries()) {
      const f = view.files.get(resolveArchivePath(e.Config, `manifest.json[${i}].Config`));
      if (f)
        tags.set(
          f.digest,
          e.RepoTags.map((t, j) => normaliseName(t, `manifest.json[${i}].RepoTags[${j}]`)),
        );
    }
    cands = await ociCandidates(view, o.platforms, blobs, tags);
  } else {
    cands = docker.map((e, i) => ({
      names: e.RepoTags.map((t, j) => normaliseName(t, `manifest.json[${i}].RepoTags[${j}]`)),
      what: `manifest.json[${i}]`,
      resolve: () => dockerImage(view, e, `manifest.json[${i}]`, blobs),
    }));
  }
  const images: PlannedImage[] = [];
  for (const { cand, names } of chooseImages(cands, o.name)) {
    images.push({ names, ...(await cand.resolve()) });
  }
  return { format: isOci ? 'oci-layout' : 'docker-archive', images, blobs };
}
