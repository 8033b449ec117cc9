/**
 * Crafted image layers for tests: raw tar entries written with the tar package's Header, so a test
 * can make what no well-behaved tar writer would (`../evil`, absolute paths, writes through links).
 */
import { writeFileSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import { Header } from 'tar';

export interface LayerEntry {
  path: string;
  type?: 'File' | 'Directory' | 'SymbolicLink' | 'Link' | 'CharacterDevice' | 'BlockDevice' | 'FIFO';
  mode?: number;
  data?: string;
  linkpath?: string;
}

export function layerTar(entries: LayerEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const type = e.type ?? (e.path.endsWith('/') ? 'Directory' : 'File');
    const data = Buffer.from(type === 'File' ? (e.data ?? '') : '');
    const h = new Header({
      path: e.path,
      type,
      mode: e.mode ?? (type === 'Directory' ? 0o755 : 0o644),
      size: data.length,
      linkpath: e.linkpath ?? '',
      uid: 1000,
      gid: 1000,
      mtime: new Date(1_700_000_000_000),
      devmaj: 0,
      devmin: 0,
    });
    const block = Buffer.alloc(512);
    if (h.encode(block, 0)) throw new Error(`test layer: path too long for a plain header: ${e.path}`);
    blocks.push(block, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/** Writes the layer (gzip-compressed unless `gzip: false`) and returns its path. */
export function writeLayer(path: string, entries: LayerEntry[], gzip = true): string {
  const tar = layerTar(entries);
  writeFileSync(path, gzip ? gzipSync(tar) : tar);
  return path;
}

export const GZ = 'application/vnd.oci.image.layer.v1.tar+gzip';
export const TAR = 'application/vnd.oci.image.layer.v1.tar';
