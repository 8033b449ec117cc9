/**
 * A real registry for tests: Debian's docker-registry on a free loopback port with its own
 * storage dir, optionally behind htpasswd (bcrypt) auth; and a small OCI image built from a
 * busybox-static rootfs, written into a content store so the client can push it.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { create } from 'tar';
import type { ContentStore } from '../../src/image/oci/content-store.js';
import { MT } from '../../src/image/oci/media-types.js';
import { makeBusyboxRootfs } from './busybox-rootfs.js';
import type { RegistryTokenAuth } from './token-server.js';

export interface TestRegistry {
  /** host:port */
  host: string;
  close(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address() as { port: number };
      s.close(() => resolve(a.port));
    });
  });
}

export interface StartRegistryOptions {
  /** bearer-token auth against a token server (test/helpers/token-server.ts); not with htpasswd */
  token?: RegistryTokenAuth;
}

export async function startRegistry(
  auth?: { username: string; password: string },
  opts: StartRegistryOptions = {},
): Promise<TestRegistry> {
  const dir = mkdtempSync(join(tmpdir(), 'agni-registry-'));
  const port = await freePort();
  let authCfg = '';
  if (auth) {
    const line = execFileSync('htpasswd', ['-Bbn', auth.username, auth.password], { encoding: 'utf8' });
    writeFileSync(join(dir, 'htpasswd'), `${line.trim()}\n`);
    authCfg = `auth:\n  htpasswd:\n    realm: agni-test\n    path: ${join(dir, 'htpasswd')}\n`;
  } else if (opts.token) {
    const t = opts.token;
    authCfg = `auth:\n  token:\n    realm: ${t.realm}\n    service: ${t.service}\n    issuer: ${t.issuer}\n    rootcertbundle: ${t.rootCertBundle}\n`;
  }
  const cfg = join(dir, 'config.yml');
  writeFileSync(
    cfg,
    `version: 0.1\nlog:\n  level: error\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: ${join(dir, 'data')}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:${port}\n${authCfg}`,
  );
  const proc: ChildProcess = spawn('/usr/bin/docker-registry', ['serve', cfg], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  proc.stderr?.on('data', (c) => {
    stderr += String(c);
  });
  const host = `127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    const ok = await fetch(`http://${host}/v2/`).then(
      (r) => r.status === 200 || r.status === 401,
      () => false,
    );
    if (ok) break;
    if (proc.exitCode !== null || Date.now() > deadline) {
      proc.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`docker-registry did not start: ${stderr}`);
    }
    await sleep(50);
  }
  return {
    host,
    async close() {
      if (proc.exitCode === null) {
        const exited = new Promise((r) => proc.once('exit', r));
        proc.kill('SIGTERM');
        await Promise.race([exited, sleep(3000)]);
        if (proc.exitCode === null) proc.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface BuiltImage {
  manifestDigest: string;
  configDigest: string;
  layerDigest: string;
  layerSize: number;
}

/** A gzip layer of a busybox rootfs (plus `extra` bytes so layers can differ in size). */
export async function busyboxLayer(extra = 0): Promise<Buffer> {
  const dir = mkdtempSync(join(tmpdir(), 'agni-layer-'));
  try {
    const root = makeBusyboxRootfs(join(dir, 'rootfs'));
    if (extra > 0) {
      // Random bytes do not compress, so the layer grows by about `extra`.
      const { randomBytes } = await import('node:crypto');
      writeFileSync(join(root, 'padding.bin'), randomBytes(extra));
    }
    const chunks: Buffer[] = [];
    for await (const c of create({ cwd: root, portable: true }, ['.'])) chunks.push(c as Buffer);
    return gzipSync(Buffer.concat(chunks));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function storeImage(
  store: ContentStore,
  layer: Buffer,
  arch = 'amd64',
  variant?: string,
  layerType: string = MT.ociLayerGzip,
): Promise<BuiltImage> {
  const layerDigest = await store.putBytes(layer);
  const config = Buffer.from(
    JSON.stringify({
      architecture: arch,
      ...(variant ? { variant } : {}),
      os: 'linux',
      config: { Cmd: ['/bin/sh'] },
      rootfs: { type: 'layers', diff_ids: [] },
    }),
  );
  const configDigest = await store.putBytes(config);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: MT.ociConfig, digest: configDigest, size: config.length },
      layers: [{ mediaType: layerType, digest: layerDigest, size: layer.length }],
    }),
  );
  const manifestDigest = await store.putBytes(manifest);
  return { manifestDigest, configDigest, layerDigest, layerSize: layer.length };
}

export async function storeIndex(
  store: ContentStore,
  entries: { image: BuiltImage; arch: string; variant?: string }[],
): Promise<string> {
  const manifests = [];
  for (const e of entries) {
    const bytes = await store.read(e.image.manifestDigest);
    manifests.push({
      mediaType: MT.ociManifest,
      digest: e.image.manifestDigest,
      size: bytes.length,
      platform: { os: 'linux', architecture: e.arch, ...(e.variant ? { variant: e.variant } : {}) },
    });
  }
  return store.putBytes(Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests })));
}
