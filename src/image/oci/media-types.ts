/** The manifest, index, config and layer media types of OCI and Docker v2 schema 2. */
import { AgniError } from '../../core/errors.js';

export const MT = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  ociLayerNondistGzip: 'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
} as const;

export const INDEX_TYPES: readonly string[] = [MT.ociIndex, MT.dockerList];
export const MANIFEST_TYPES: readonly string[] = [MT.ociManifest, MT.dockerManifest];
export const CONFIG_TYPES: readonly string[] = [MT.ociConfig, MT.dockerConfig];
export const LAYER_TYPES: readonly string[] = [
  MT.ociLayer,
  MT.ociLayerGzip,
  MT.ociLayerZstd,
  MT.ociLayerNondistGzip,
  MT.dockerLayerGzip,
  MT.dockerForeignLayerGzip,
];

/** Sent as Accept on manifest requests so a registry may answer with any form Agni reads. */
export const MANIFEST_ACCEPT = [...INDEX_TYPES, ...MANIFEST_TYPES].join(', ');

export type ManifestKind = 'index' | 'manifest';

export function manifestKind(mediaType: string | undefined, what: string): ManifestKind {
  const mt = (mediaType ?? '').split(';')[0]!.trim();
  if (INDEX_TYPES.includes(mt)) return 'index';
  if (MANIFEST_TYPES.includes(mt)) return 'manifest';
  throw new AgniError('manifest_invalid', `${what}: unsupported manifest media type "${mt || '(none)'}"`, {
    hint: `Agni reads ${[...INDEX_TYPES, ...MANIFEST_TYPES].join(', ')}`,
    details: { mediaType: mt },
  });
}

export function checkLayerType(mediaType: string, what: string): void {
  if (!LAYER_TYPES.includes(mediaType)) {
    throw new AgniError('manifest_invalid', `${what}: unsupported layer media type "${mediaType}"`, {
      hint: `Agni reads ${LAYER_TYPES.join(', ')}`,
      details: { mediaType },
    });
  }
}

export function checkConfigType(mediaType: string, what: string): void {
  if (!CONFIG_TYPES.includes(mediaType)) {
    throw new AgniError('manifest_invalid', `${what}: unsupported config media type "${mediaType}"`, {
      hint: `Agni reads ${CONFIG_TYPES.join(', ')}`,
      details: { mediaType },
    });
  }
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

export interface ImageManifest {
  schemaVersion: 2;
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
}

export interface ImageIndex {
  schemaVersion: 2;
  mediaType: string;
  manifests: Descriptor[];
}

const DIGEST = /^sha256:[a-f0-9]{64}$/;

function descriptor(v: unknown, what: string): Descriptor {
  const d = v as Partial<Descriptor> | null;
  if (!d || typeof d !== 'object') throw invalid(what, 'not an object');
  if (typeof d.mediaType !== 'string') throw invalid(what, 'field `mediaType` missing');
  if (typeof d.digest !== 'string' || !DIGEST.test(d.digest))
    throw invalid(what, 'field `digest` is not sha256:<64 hex>');
  if (typeof d.size !== 'number' || !Number.isSafeInteger(d.size) || d.size < 0)
    throw invalid(what, 'field `size` is not a non-negative integer');
  return d as Descriptor;
}

function invalid(what: string, why: string): AgniError {
  return new AgniError('manifest_invalid', `${what}: ${why}`);
}

/** Parses manifest bytes; the media type comes from the body, else from Content-Type. */
export function parseManifest(
  bytes: Buffer,
  contentType: string | undefined,
  what: string,
): { kind: 'index'; index: ImageIndex } | { kind: 'manifest'; manifest: ImageManifest } {
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(bytes.toString('utf8')) as Record<string, unknown>;
  } catch {
    throw invalid(what, 'not valid JSON');
  }
  if (!j || typeof j !== 'object') throw invalid(what, 'not a JSON object');
  const mediaType = typeof j.mediaType === 'string' ? j.mediaType : (contentType ?? '').split(';')[0]!.trim();
  const kind = manifestKind(mediaType, what);
  if (j.schemaVersion !== 2) throw invalid(what, `schemaVersion ${String(j.schemaVersion)} is not 2`);
  if (kind === 'index') {
    if (!Array.isArray(j.manifests)) throw invalid(what, 'field `manifests` is not a list');
    const manifests = j.manifests.map((m, i) => descriptor(m, `${what}: manifests[${i}]`));
    return { kind, index: { schemaVersion: 2, mediaType, manifests } };
  }
  const config = descriptor(j.config, `${what}: config`);
  checkConfigType(config.mediaType, `${what}: config`);
  if (!Array.isArray(j.layers)) throw invalid(what, 'field `layers` is not a list');
  const layers = j.layers.map((l, i) => {
    const d = descriptor(l, `${what}: layers[${i}]`);
    checkLayerType(d.mediaType, `${what}: layers[${i}]`);
    return d;
  });
  return { kind, manifest: { schemaVersion: 2, mediaType, config, layers } };
}
