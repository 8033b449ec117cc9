/**
 * Images for the pull benchmark: a busybox layer (so the image runs) under data layers of random
 * files. Random bytes do not compress, so a layer's size is what it says. Layers are gzip level 1
 * tars streamed to disk while their digest and diff_id are computed, then pushed with Agni's
 * registry client.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable, Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { create, Header } from 'tar';
import { makeBusyboxRootfs } from '../image/busybox-rootfs.js';
import { MT, type Platform } from '../image/oci/media-types.js';
import type { RegistryClient } from '../image/oci/registry-client.js';

export interface BenchLayer {
  file: string;
  digest: string;
  /** compressed bytes */
  size: number;
  /** sha256 of the uncompressed tar, for the config's rootfs.diff_ids */
  diffId: string;
}

export interface BenchImage {
  repo: string;
  tag: string;
  manifestDigest: string;
  configDigest: string;
  layers: BenchLayer[];
  /** config plus layers, compressed: what a pull downloads */
  totalBytes: number;
}

const GZIP_LEVEL = 1;
const MAX_FILE = 16 * 1024 * 1024;
const CHUNK = 1024 * 1024;

/**
 * Sizes of `count` data layers that bring an image with a `base`-byte layer to about `total`
 * bytes, uneven as in real images (the first layers larger), each at least 4 KiB.
 */
export function planLayerSizes(total: number, base: number, count: number): number[] {
  const rest = Math.max(total - base, count * 4096);
  const weights = Array.from({ length: count }, (_, i) => count - i);
  const sum = weights.reduce((a, b) => a + b, 0);
  const sizes = weights.map((w) => Math.max(4096, Math.floor((rest * w) / sum)));
  sizes[0]! += rest - sizes.reduce((a, b) => a + b, 0);
  return sizes;
}

/** Hashes what passes through (sha256 and byte count) without changing it. */
function tap(): Transform & { digest(): string; bytes: number } {
  const h = createHash('sha256');
  const t = new Transform({
    transform(chunk: Buffer, _enc, cb) {
      h.update(chunk);
      (t as unknown as { bytes: number }).bytes += chunk.length;
      cb(null, chunk);
    },
  }) as Transform & { digest(): string; bytes: number };
  t.bytes = 0;
  t.digest = () => `sha256:${h.digest('hex')}`;
  return t;
}

function header(path: string, type: 'File' | 'Directory', size: number): Buffer {
  const block = Buffer.alloc(512);
  new Header({
    path,
    type,
    mode: type === 'Directory' ? 0o755 : 0o644,
    size,
    uid: 0,
    gid: 0,
    mtime: new Date(1_700_000_000_000),
  }).encode(block, 0);
  return block;
}

/** A tar of random files adding up to `bytes` under data/<name>/. */
async function* randomTar(name: string, bytes: number): AsyncGenerator<Buffer> {
  yield header('data/', 'Directory', 0);
  yield header(`data/${name}/`, 'Directory', 0);
  let left = bytes;
  for (let i = 0; left > 0; i++) {
    const size = Math.min(left, MAX_FILE);
    yield header(`data/${name}/file-${i}.bin`, 'File', size);
    for (let off = 0; off < size; off += CHUNK) yield randomBytes(Math.min(CHUNK, size - off));
    const pad = (512 - (size % 512)) % 512;
    if (pad) yield Buffer.alloc(pad);
    left -= size;
  }
  yield Buffer.alloc(1024);
}

async function writeLayer(file: string, tar: Readable): Promise<BenchLayer> {
  const raw = tap();
  const gz = tap();
  await pipeline(tar, raw, createGzip({ level: GZIP_LEVEL }), gz, createWriteStream(file));
  return { file, digest: gz.digest(), size: gz.bytes, diffId: raw.digest() };
}

/** About `bytes` of random data in files, as one gzip layer. */
export function writeRandomLayer(file: string, name: string, bytes: number): Promise<BenchLayer> {
  return writeLayer(file, Readable.from(randomTar(name, bytes)));
}

/** A busybox-static root filesystem as one gzip layer. */
export async function writeBusyboxLayer(file: string, scratch: string): Promise<BenchLayer> {
  const dir = await mkdtemp(join(scratch, 'busybox-'));
  try {
    const root = makeBusyboxRootfs(join(dir, 'rootfs'));
    return await writeLayer(file, create({ cwd: root, portable: true }, ['.']) as unknown as Readable);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Pushes config, layers (bottom first) and the manifest under `repo:tag`. */
export async function pushBenchImage(
  client: RegistryClient,
  repo: string,
  tag: string,
  layers: BenchLayer[],
  platform: Platform,
  cmd: string[],
  scratch: string,
): Promise<BenchImage> {
  const config = Buffer.from(
    JSON.stringify({
      architecture: platform.architecture,
      os: platform.os,
      ...(platform.variant ? { variant: platform.variant } : {}),
      config: { Cmd: cmd },
      rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    }),
  );
  const configDigest = `sha256:${createHash('sha256').update(config).digest('hex')}`;
  const configFile = join(scratch, `${repo.replace(/\W/g, '_')}-config.json`);
  await writeFile(configFile, config);
  await client.pushBlob(repo, configDigest, config.length, configFile);
  for (const l of layers) await client.pushBlob(repo, l.digest, l.size, l.file);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: MT.ociConfig, digest: configDigest, size: config.length },
      layers: layers.map((l) => ({ mediaType: MT.ociLayerGzip, digest: l.digest, size: l.size })),
    }),
  );
  await client.putManifest(repo, tag, manifest, MT.ociManifest);
  await rm(configFile, { force: true });
  return {
    repo,
    tag,
    manifestDigest: `sha256:${createHash('sha256').update(manifest).digest('hex')}`,
    configDigest,
    layers,
    totalBytes: config.length + layers.reduce((n, l) => n + l.size, 0),
  };
}
