/**
 * Building blocks for image archive tests: images with a correct config (rootfs.diff_ids, as
 * docker load and skopeo's docker-archive reader need), and raw tars with any entries a test wants,
 * including what no well-behaved writer makes (links out of the archive, `../` names).
 */
import { gunzipSync, gzipSync } from 'node:zlib';
import { Header } from 'tar';
import { type ContentStore, sha256Digest } from '../../src/image/oci/content-store.js';
import { MT } from '../../src/image/oci/media-types.js';
import { layerTar } from './layer-tar.js';

export interface ProperImage {
  manifestDigest: string;
  manifestSize: number;
  configDigest: string;
  layerDigest: string;
  layerSize: number;
  /** digest of the uncompressed layer (the config's diff_id) */
  diffId: string;
}

/** A one-layer image whose config lists the layer's diff_id; `layer` is gzip or a plain tar. */
export async function storeProperImage(
  store: ContentStore,
  layer: Buffer,
  o: { arch?: string; variant?: string; cmd?: string[] } = {},
): Promise<ProperImage> {
  const gz = layer[0] === 0x1f && layer[1] === 0x8b;
  const diffId = sha256Digest(gz ? gunzipSync(layer) : layer);
  const layerDigest = await store.putBytes(layer);
  const config = Buffer.from(
    JSON.stringify({
      architecture: o.arch ?? 'amd64',
      ...(o.variant ? { variant: o.variant } : {}),
      os: 'linux',
      config: { Cmd: o.cmd ?? ['/bin/sh'] },
      rootfs: { type: 'layers', diff_ids: [diffId] },
    }),
  );
  const configDigest = await store.putBytes(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: MT.ociConfig, digest: configDigest, size: config.length },
      layers: [{ mediaType: gz ? MT.ociLayerGzip : MT.ociLayer, digest: layerDigest, size: layer.length }],
    }),
  );
  const manifestDigest = await store.putBytes(manifest);
  return {
    manifestDigest,
    manifestSize: manifest.length,
    configDigest,
    layerDigest,
    layerSize: layer.length,
    diffId,
  };
}

/** A small gzip layer with one file, distinct per `tag`. */
export function tinyLayer(tag: string, gzip = true): Buffer {
  const tar = layerTar([{ path: 'etc/' }, { path: `etc/${tag}`, data: `${tag}\n` }]);
  return gzip ? gzipSync(tar) : tar;
}

export interface RawEntry {
  path: string;
  type?: 'File' | 'Directory' | 'SymbolicLink' | 'Link';
  data?: Buffer | string;
  linkpath?: string;
}

export function rawTar(entries: RawEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const type = e.type ?? (e.path.endsWith('/') ? 'Directory' : 'File');
    const data = type === 'File' ? Buffer.from(e.data ?? '') : Buffer.alloc(0);
    const h = new Header({
      path: e.path,
      type,
      mode: type === 'Directory' ? 0o755 : 0o644,
      size: data.length,
      linkpath: e.linkpath ?? '',
      uid: 0,
      gid: 0,
      mtime: new Date(0),
    });
    const block = Buffer.alloc(512);
    if (h.encode(block, 0)) throw new Error(`raw tar: name too long for a plain header: ${e.path}`);
    blocks.push(block, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}
