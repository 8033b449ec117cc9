/**
 * The config, manifest and index of an `agni build` image, from the base image's manifest and
 * config, the function's layer and agni.yaml. Pure: bytes and objects in, bytes out, so the same
 * inputs always give the same digests (JSON keeps the base's key order and adds Agni's in a fixed one).
 *
 * agni.yaml overrides the base config the way it would at deploy time (image-config.ts): `entrypoint`
 * replaces Entrypoint and, unless `command` is set, drops the base's Cmd (as a Dockerfile ENTRYPOINT
 * does); `command` replaces Cmd; `env` entries replace or extend Env; `workdir` replaces WorkingDir,
 * which falls back to the base's and then to /fn (where the function's files are); `user` replaces User.
 */
import { sha256Digest } from './content-store.js';
import { type Descriptor, type ImageManifest, MT, type Platform } from './media-types.js';

export interface FunctionSpec {
  name: string;
  command: string[];
  entrypoint?: string[];
  env: Record<string, string>;
  workdir?: string;
  user?: string;
  description?: string;
}

export interface BaseImage {
  /** the base's single-platform manifest digest */
  digest: string;
  manifest: ImageManifest;
  /** the base's config blob, parsed */
  config: Record<string, unknown>;
  /** the uncompressed digest of each base layer, in order */
  diffIds: string[];
  /** where the image runs: from the base index's entry, else from its config */
  platform: Platform;
}

export interface LayerBlob {
  digest: string;
  size: number;
  diffId: string;
  mediaType: string;
}

export interface BuildSpec {
  fn: FunctionSpec;
  /** the base reference as agni.yaml gives it (annotation org.opencontainers.image.base.name) */
  baseName: string;
  /** RFC 3339, e.g. 1970-01-01T00:00:00Z */
  created: string;
}

export interface BuiltManifest {
  manifest: Buffer;
  manifestDigest: string;
  config: Buffer;
  configDigest: string;
  layers: Descriptor[];
  platform: Platform;
  /** config and layers */
  sizeBytes: number;
}

export const TITLE_LABEL = 'org.opencontainers.image.title';
export const DEFAULT_WORKDIR = '/fn';

/** Docker's layer types in an OCI manifest: the same bytes under their OCI names. */
const OCI_LAYER_TYPE: Record<string, string> = {
  [MT.dockerLayerGzip]: MT.ociLayerGzip,
  [MT.dockerForeignLayerGzip]: MT.ociLayerNondistGzip,
};

/** `created` for SOURCE_DATE_EPOCH's date, without the milliseconds Docker leaves out. */
export function createdAt(d: Date): string {
  return d.toISOString().replace(/\.000Z$/, 'Z');
}

const strings = (v: unknown): string[] | undefined =>
  Array.isArray(v) && v.every((s) => typeof s === 'string') ? v : undefined;

const record = (v: unknown): Record<string, unknown> =>
  v && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};

/** The base's Env with agni.yaml's entries replacing same-named ones in place and new ones appended. */
export function mergeEnv(base: string[], env: Record<string, string>): string[] {
  const out = [...base];
  for (const [k, v] of Object.entries(env)) {
    const i = out.findIndex((e) => e === k || e.startsWith(`${k}=`));
    if (i >= 0) out[i] = `${k}=${v}`;
    else out.push(`${k}=${v}`);
  }
  return out;
}

/** The runtime part (`config`) of the new image config. */
export function processConfig(base: Record<string, unknown>, fn: FunctionSpec): Record<string, unknown> {
  const c: Record<string, unknown> = { ...base };
  if (fn.entrypoint) {
    c.Entrypoint = fn.entrypoint;
    if (!fn.command.length) delete c.Cmd;
  }
  if (fn.command.length) c.Cmd = fn.command;
  const env = mergeEnv(strings(base.Env) ?? [], fn.env);
  if (env.length) c.Env = env;
  c.WorkingDir =
    fn.workdir ??
    (typeof base.WorkingDir === 'string' && base.WorkingDir ? base.WorkingDir : DEFAULT_WORKDIR);
  if (fn.user !== undefined) c.User = fn.user;
  c.Labels = {
    ...record(base.Labels),
    [TITLE_LABEL]: fn.name,
    ...(fn.description ? { 'org.opencontainers.image.description': fn.description } : {}),
  };
  return c;
}

/** The new image config blob's object: the base's, with the layer, history entry and process config. */
export function imageConfig(base: BaseImage, layer: LayerBlob, spec: BuildSpec): Record<string, unknown> {
  const baseHistory = Array.isArray(base.config.history)
    ? (base.config.history as unknown[])
    : // Without a history, one entry per base layer keeps history and diff_ids lined up for tools that pair them.
      base.diffIds.map(() => ({
        ...(typeof base.config.created === 'string' ? { created: base.config.created } : {}),
        comment: 'base image layer',
      }));
  return {
    ...base.config,
    created: spec.created,
    architecture: base.config.architecture ?? base.platform.architecture,
    os: base.config.os ?? base.platform.os,
    ...(base.platform.variant && !base.config.variant ? { variant: base.platform.variant } : {}),
    config: processConfig(record(base.config.config), spec.fn),
    rootfs: { type: 'layers', diff_ids: [...base.diffIds, layer.diffId] },
    history: [
      ...baseHistory,
      { created: spec.created, created_by: 'agni build', comment: `function ${spec.fn.name}` },
    ],
  };
}

function descriptor(d: Descriptor): Descriptor {
  const x = d as Descriptor & { urls?: string[] };
  return {
    mediaType: OCI_LAYER_TYPE[d.mediaType] ?? d.mediaType,
    digest: d.digest,
    size: d.size,
    ...(x.urls ? { urls: x.urls } : {}),
    ...(d.annotations ? { annotations: d.annotations } : {}),
  } as Descriptor;
}

/** One platform's image: the base's layers (under OCI media types) and the function's on top. */
export function buildManifest(base: BaseImage, layer: LayerBlob, spec: BuildSpec): BuiltManifest {
  if (base.diffIds.length !== base.manifest.layers.length) {
    throw new Error(
      `base ${base.digest}: ${base.diffIds.length} diff_ids for ${base.manifest.layers.length} layers`,
    );
  }
  const layers: Descriptor[] = [
    ...base.manifest.layers.map(descriptor),
    { mediaType: layer.mediaType, digest: layer.digest, size: layer.size },
  ];
  return sealManifest(imageConfig(base, layer, spec), layers, base.platform, {
    'org.opencontainers.image.base.name': spec.baseName,
    'org.opencontainers.image.base.digest': base.digest,
  });
}

/**
 * The config and manifest bytes of one platform's image and their digests, from the config's
 * object and the layers' descriptors. Annotations go in the manifest only when there are some.
 */
export function sealManifest(
  configObject: Record<string, unknown>,
  layers: Descriptor[],
  platform: Platform,
  annotations?: Record<string, string>,
): BuiltManifest {
  const config = Buffer.from(JSON.stringify(configObject));
  const configDigest = sha256Digest(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: MT.ociConfig, digest: configDigest, size: config.length },
      layers,
      ...(annotations && Object.keys(annotations).length ? { annotations } : {}),
    }),
  );
  return {
    manifest,
    manifestDigest: sha256Digest(manifest),
    config,
    configDigest,
    layers,
    platform,
    sizeBytes: config.length + layers.reduce((n, l) => n + l.size, 0),
  };
}

/** An OCI index over the per-platform manifests, in the order given. */
export function buildIndex(images: BuiltManifest[]): { bytes: Buffer; digest: string } {
  const bytes = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociIndex,
      manifests: images.map((m) => ({
        mediaType: MT.ociManifest,
        digest: m.manifestDigest,
        size: m.manifest.length,
        platform: {
          architecture: m.platform.architecture,
          os: m.platform.os,
          ...(m.platform.variant ? { variant: m.platform.variant } : {}),
        },
      })),
    }),
  );
  return { bytes, digest: sha256Digest(bytes) };
}
