/**
 * Unpack bounds against a real server: a deploy, an imported rootfs and a build upload that unpack
 * past `--max-unpack` or `--max-files` are refused with 413 naming the flag, and leave nothing.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { ContentStore } from '../src/image/oci/content-store.js';
import { pushImage } from '../src/image/oci/push.js';
import { parseReference } from '../src/image/oci/reference.js';
import { RegistryClient } from '../src/image/oci/registry-client.js';
import { deployFiles } from './helpers/deploy.js';
import { type LayerEntry, layerTar } from './helpers/layer-tar.js';
import { storeProperImage } from './helpers/oci-archive.js';
import { startRegistry } from './helpers/registry.js';
import { startTestServer, type TestServer } from './helpers/server.js';

let s: TestServer;

before(async () => {
  s = await startTestServer({ limits: { maxUnpackBytes: 1024 * 1024, maxUnpackFiles: 50 } });
});
after(async () => {
  await s?.close();
});

const YAML: LayerEntry = { path: 'agni.yaml', data: 'name: big\nruntime: host\ncommand: "cat"\n' };
/** 4 MiB of one byte: a few KiB once gzipped, the shape of a decompression bomb */
const BOMB: LayerEntry = { path: 'zeros', data: '\0'.repeat(4 * 1024 * 1024) };
const MANY: LayerEntry[] = Array.from({ length: 60 }, (_, k) => ({ path: `f${k}`, data: 'x' }));

async function upload(path: string, entries: LayerEntry[]) {
  const body = gzipSync(layerTar(entries));
  assert.ok(body.length < 64 * 1024, 'the upload itself is small');
  const r = await fetch(`${s.url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/gzip' },
    body,
  });
  return {
    status: r.status,
    error: ((await r.json()) as { error: { code: string; message: string; hint: string } }).error,
  };
}

function assertNothingLeft(): void {
  const staging = join(s.home, 'functions', '.staging');
  assert.deepEqual(existsSync(staging) ? readdirSync(staging) : [], [], 'no staging dir is left');
  assert.deepEqual(
    readdirSync(join(s.home, 'functions')).filter((d) => d !== '.staging'),
    [],
    'no function dir is left',
  );
  assert.deepEqual(existsSync(join(s.home, 'images')) ? readdirSync(join(s.home, 'images')) : [], []);
  assert.deepEqual(existsSync(join(s.home, 'build')) ? readdirSync(join(s.home, 'build')) : [], []);
}

for (const [route, what] of [
  ['/v1/functions', 'the uploaded function'],
  ['/v1/images/bomb', 'image bomb'],
  ['/v1/oci/build', 'the uploaded function'],
] as const) {
  test(`${route}: an upload that unpacks past --max-unpack is refused with 413 and leaves nothing`, async () => {
    const r = await upload(route, [YAML, BOMB]);
    assert.equal(r.status, 413, JSON.stringify(r.error));
    assert.equal(r.error.code, 'payload_too_large');
    assert.match(
      r.error.message,
      new RegExp(`^${what} unpacks to more than 1\\.0 MiB.*agni up --max-unpack`),
    );
    assert.match(r.error.hint, /--max-unpack/);
    assertNothingLeft();
  });

  test(`${route}: an upload of more files than --max-files is refused with 413 and leaves nothing`, async () => {
    const r = await upload(route, [YAML, ...MANY]);
    assert.equal(r.status, 413, JSON.stringify(r.error));
    assert.match(r.error.message, /unpacks to more than 50 files.*agni up --max-files/);
    assertNothingLeft();
  });
}

test('a deploy within the bounds still works', async () => {
  await deployFiles(s.url, {
    'agni.yaml': 'name: small\nruntime: host\ncommand: cat\n',
    'data.txt': 'x'.repeat(1000),
  });
});

test('a registry image whose layer unpacks past --max-unpack: the deploy is refused with 413, no layer dir left', async () => {
  const reg = await startRegistry();
  const scratch = mkdtempSync(join(tmpdir(), 'agni-bomb-'));
  try {
    const src = new ContentStore(scratch);
    const img = await storeProperImage(src, gzipSync(layerTar([{ path: 'bin/' }, BOMB])));
    const ref = `${reg.host}/bomb/image:1`;
    await pushImage(new RegistryClient({ host: reg.host }), src, img.manifestDigest, parseReference(ref));
    const r = await upload('/v1/functions', [
      { path: 'agni.yaml', data: `name: bomb\nruntime: ${ref}\ncommand: ["/bin/sh"]\n` },
    ]);
    assert.equal(r.status, 413, JSON.stringify(r.error));
    assert.match(
      r.error.message,
      /image layer sha256:[0-9a-f]{64} unpacks to more than 1\.0 MiB.*--max-unpack/,
    );
    const layers = join(s.home, 'content', 'layers');
    assert.deepEqual(existsSync(layers) ? readdirSync(layers) : [], [], 'no layer dir, complete or partial');
    assert.equal(existsSync(join(s.home, 'functions', 'bomb')), false);
    assert.deepEqual(readdirSync(join(s.home, 'functions', '.staging')), []);
  } finally {
    await reg.close();
    rmSync(scratch, { recursive: true, force: true });
  }
});
