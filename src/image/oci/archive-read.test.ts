import assert from 'node:assert/strict';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, test } from 'node:test';
import { gzipSync } from 'node:zlib';
import { type ProperImage, rawTar, storeProperImage, tinyLayer } from '../../../test/helpers/oci-archive.js';
import { tempDir } from '../../../test/helpers/tmp.js';
import { AgniError } from '../../core/errors.js';
import { SqlOciImageRepository } from '../../store/oci-image-repo.js';
import { openSqliteStore } from '../../store/sqlite.js';
import { loadArchive } from './archive-read.js';
import { type ArchiveFormat, saveArchive } from './archive-write.js';
import { ContentStore, sha256Digest } from './content-store.js';
import { MT, type Platform, parseManifest } from './media-types.js';

const AMD64 = { os: 'linux', architecture: 'amd64' };
const ARM64 = { os: 'linux', architecture: 'arm64', variant: 'v8' };
async function home() {
  const dir = tempDir('agni-archive-');
  const db = await openSqliteStore(join(dir, 'agni.db'));
  after(() => db.close());
  return { dir, content: new ContentStore(dir), repo: new SqlOciImageRepository(db.db) };
}

async function collect(it: AsyncIterable<Buffer>): Promise<Buffer> {
  const out: Buffer[] = [];
  for await (const c of it) out.push(c);
  return Buffer.concat(out);
}

/** An image stored in a fresh home, saved as `format`. */
async function archiveOf(name: string, format: ArchiveFormat = 'oci-archive', tag = 'a') {
  const src = await home();
  const img = await storeProperImage(src.content, tinyLayer(tag));
  const rec = {
    name,
    manifestDigest: img.manifestDigest,
    indexDigest: null,
    configDigest: img.configDigest,
    layers: [],
    platform: 'linux/amd64',
    sizeBytes: 0,
    createdAt: 0,
  };
  const saved = await saveArchive(src.content, rec, format);
  return { img, tar: await collect(saved.stream()) };
}

function load(
  h: Awaited<ReturnType<typeof home>>,
  tar: Buffer,
  o: { name?: string; platforms?: Platform[] } = {},
) {
  return loadArchive(h.content, h.repo, Readable.from([tar]), {
    name: o.name,
    platforms: o.platforms ?? [AMD64],
  });
}

async function rejects(p: Promise<unknown>, code: string, message: RegExp): Promise<AgniError> {
  const e = await p.then(
    () => assert.fail('expected the load to fail'),
    (x: unknown) => x,
  );
  assert.ok(e instanceof AgniError, `not an AgniError: ${String(e)}`);
  assert.equal(e.code, code, e.message);
  assert.match(e.message, message);
  return e;
}

/** Nothing stored, nothing recorded, no staging left. */
async function untouched(h: Awaited<ReturnType<typeof home>>) {
  assert.deepEqual(await h.content.list(), []);
  assert.deepEqual(await h.repo.list(), []);
  const ingest = readdirSync(join(h.dir, 'content', 'ingest'), { withFileTypes: true });
  assert.deepEqual(
    ingest.filter((e) => e.isDirectory()).map((e) => e.name),
    [],
  );
}

test('an OCI archive loads with its own digests under its name annotation, gzip-compressed too', async () => {
  const { img, tar } = await archiveOf('127.0.0.1:5000/team/fn:v1');
  for (const input of [tar, gzipSync(tar)]) {
    const h = await home();
    const r = await load(h, input);
    assert.equal(r.format, 'oci-layout');
    assert.equal(r.images.length, 1);
    const rec = r.images[0]!;
    assert.equal(rec.name, '127.0.0.1:5000/team/fn:v1');
    assert.equal(rec.manifestDigest, img.manifestDigest);
    assert.equal(rec.configDigest, img.configDigest);
    assert.deepEqual(rec.layers, [
      { digest: img.layerDigest, size: img.layerSize, mediaType: MT.ociLayerGzip },
    ]);
    assert.equal(rec.platform, 'linux/amd64');
    assert.deepEqual(
      (await h.content.list()).sort(),
      [img.manifestDigest, img.configDigest, img.layerDigest].sort(),
    );
    assert.deepEqual(await h.repo.get(rec.name), rec);
  }
});

test('a blob already in the store is checked but not written again', async () => {
  const { img, tar } = await archiveOf('team/fn:v1');
  const h = await home();
  await storeProperImage(h.content, tinyLayer('a'));
  const inode = statSync(h.content.path(img.layerDigest)).ino;
  const r = await load(h, tar);
  assert.equal(r.images[0]!.manifestDigest, img.manifestDigest);
  assert.equal(statSync(h.content.path(img.layerDigest)).ino, inode);
});

/** A docker save (≤ 24) tarball: <id>/layer.tar (one a symlink), <hex>.json, manifest.json, repositories. */
function dockerSave(o: { tags: string[][]; tamper?: boolean; layers?: string[] }) {
  const l1 = tinyLayer('one', false);
  const l2 = tinyLayer('two', false);
  const diff = [sha256Digest(l1), sha256Digest(l2)];
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'arm64',
      variant: 'v8',
      os: 'linux',
      config: { Cmd: ['/bin/sh'] },
      rootfs: { type: 'layers', diff_ids: o.tamper ? [diff[0], diff[0]] : diff },
    }),
  );
  const cfgName = `${sha256Digest(config).slice(7)}.json`;
  const id1 = 'a'.repeat(64);
  const id2 = 'b'.repeat(64);
  const layers = o.layers ?? [`${id1}/layer.tar`, `${id2}/layer.tar`];
  const manifest = o.tags.map((t) => ({ Config: cfgName, RepoTags: t.length ? t : null, Layers: layers }));
  const tar = rawTar([
    { path: `${id1}/` },
    { path: `${id1}/VERSION`, data: '1.0' },
    { path: `${id1}/json`, data: '{}' },
    { path: `${id1}/layer.tar`, data: l1 },
    { path: `${id2}/` },
    { path: `${id2}/layer.tar`, type: 'SymbolicLink', linkpath: '../c.tar' },
    { path: 'c.tar', data: l2 },
    { path: cfgName, data: config },
    { path: 'manifest.json', data: JSON.stringify(manifest) },
    { path: 'repositories', data: '{}' },
  ]);
  return { tar, diff, configDigest: sha256Digest(config) };
}

test('a docker save tarball becomes an OCI manifest over the same config and layers, every tag a record', async () => {
  const h = await home();
  const d = dockerSave({ tags: [['busybox:1', 'localhost:5000/bb:2'], [], ['other/img:x']] });
  const r = await load(h, d.tar, { platforms: [AMD64] });
  assert.equal(r.format, 'docker-archive');
  assert.deepEqual(
    r.images.map((i) => i.name),
    ['docker.io/library/busybox:1', 'localhost:5000/bb:2', 'docker.io/other/img:x'],
  );
  const rec = r.images[0]!;
  assert.equal(rec.platform, 'linux/arm64/v8', 'a single-platform image loads whatever the node runs');
  assert.equal(rec.configDigest, d.configDigest);
  assert.deepEqual(
    rec.layers.map((l) => [l.digest, l.mediaType]),
    d.diff.map((x) => [x, MT.ociLayer]),
  );
  const m = parseManifest(await h.content.read(rec.manifestDigest), undefined, 'm');
  assert.equal(m.kind, 'manifest');
  assert.equal(m.kind === 'manifest' && m.manifest.config.digest, d.configDigest);
  for (const l of rec.layers) assert.ok(await h.content.has(l.digest));
});

test('a layer that does not match the config diff_ids is refused and nothing is stored', async () => {
  const h = await home();
  const e = await rejects(
    load(h, dockerSave({ tags: [['bb:1']], tamper: true }).tar),
    'manifest_invalid',
    /Layers\[1\].*diff_ids\[1\]/,
  );
  assert.match(e.hint ?? '', /damaged/);
  await untouched(h);
});

test('a blob whose bytes do not match its name fails as it streams, nothing stored or recorded', async () => {
  const { img, tar } = await archiveOf('team/fn:v1');
  const h = await home();
  // Flip one byte inside the layer blob (its data follows its 512-byte header).
  const at = tar.indexOf(`blobs/sha256/${img.layerDigest.slice(7)}`);
  const bad = Buffer.from(tar);
  bad[at + 512 + 20] = (bad[at + 512 + 20]! + 1) % 256;
  await rejects(
    load(h, bad),
    'manifest_invalid',
    new RegExp(`blobs/sha256/${img.layerDigest.slice(7)}: content does not match`),
  );
  await untouched(h);
});

test('paths leaving the archive are refused: ../ in manifest.json, a symlink out of it', async () => {
  const h = await home();
  await rejects(
    load(h, dockerSave({ tags: [['bb:1']], layers: ['../../etc/passwd'] }).tar),
    'manifest_invalid',
    /Layers\[0\]: path "..\/..\/etc\/passwd" points outside the archive/,
  );
  const link = rawTar([
    { path: 'manifest.json', data: '[]' },
    { path: 'evil.tar', type: 'SymbolicLink', linkpath: '../../etc/shadow' },
  ]);
  await rejects(load(h, link), 'manifest_invalid', /evil.tar: link to "..\/..\/etc\/shadow" points outside/);
  const absolute = rawTar([{ path: 'abs.tar', type: 'SymbolicLink', linkpath: '/etc/shadow' }]);
  await rejects(load(h, absolute), 'manifest_invalid', /abs.tar: link to "\/etc\/shadow" points outside/);
  await untouched(h);
});

test('a root filesystem or something else is not an image archive, with a hint to agni image import', async () => {
  const h = await home();
  const rootfs = rawTar([
    { path: 'bin/' },
    { path: 'bin/sh', data: '#!' },
    { path: 'etc/passwd', data: 'root' },
  ]);
  const e = await rejects(load(h, rootfs), 'bad_request', /not an image archive: entry "bin\/"/);
  assert.match(e.hint ?? '', /agni image import/);
  await rejects(load(h, rawTar([{ path: 'notes.txt', data: 'x' }])), 'bad_request', /neither index.json/);
  await rejects(
    load(h, Buffer.from('this is not a tar at all, just text'.repeat(40))),
    'bad_request',
    /not a readable tar/,
  );
  await untouched(h);
});

test('--name renames the only image, picks one of several, and is needed when nothing is named', async () => {
  const { img, tar } = await archiveOf('team/fn:v1');
  const h = await home();
  const renamed = await load(h, tar, { name: 'mirror/fn:2' });
  assert.deepEqual(
    renamed.images.map((i) => [i.name, i.manifestDigest]),
    [['docker.io/mirror/fn:2', img.manifestDigest]],
  );
  const several = dockerSave({ tags: [['bb:1'], ['bb:2', 'bb:3']] }).tar;
  const picked = await load(h, several, { name: 'bb:3' });
  assert.deepEqual(
    picked.images.map((i) => i.name),
    ['docker.io/library/bb:3'],
  );
  await rejects(load(h, several, { name: 'bb:9' }), 'image_not_found', /none named docker.io\/library\/bb:9/);
  const unnamed = dockerSave({ tags: [[]] }).tar;
  const e = await rejects(load(h, unnamed), 'bad_request', /has no name/);
  assert.match(e.hint ?? '', /--name/);
});

/** An OCI layout whose index.json entry is a two-platform index; `only` leaves the other's blobs out. */
async function multiArch(only?: 'amd64') {
  const src = await home();
  const amd = await storeProperImage(src.content, tinyLayer('amd'));
  const arm = await storeProperImage(src.content, tinyLayer('arm'), { arch: 'arm64', variant: 'v8' });
  const index = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociIndex,
      manifests: [
        { mediaType: MT.ociManifest, digest: amd.manifestDigest, size: amd.manifestSize, platform: AMD64 },
        { mediaType: MT.ociManifest, digest: arm.manifestDigest, size: arm.manifestSize, platform: ARM64 },
      ],
    }),
  );
  const indexDigest = sha256Digest(index);
  const blob = async (d: string) => ({ path: `blobs/sha256/${d.slice(7)}`, data: await src.content.read(d) });
  const imgBlobs = async (i: ProperImage) =>
    Promise.all([i.manifestDigest, i.configDigest, i.layerDigest].map(blob));
  const tar = rawTar([
    { path: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' },
    {
      path: 'index.json',
      data: JSON.stringify({
        schemaVersion: 2,
        manifests: [
          {
            mediaType: MT.ociIndex,
            digest: indexDigest,
            size: index.length,
            annotations: { 'org.opencontainers.image.ref.name': 'example.org/multi:1' },
          },
        ],
      }),
    },
    { path: `blobs/sha256/${indexDigest.slice(7)}`, data: index },
    ...(await imgBlobs(amd)),
    ...(only ? [] : await imgBlobs(arm)),
  ]);
  return { tar, amd, arm, indexDigest };
}

test('a multi-platform index is kept whole; the record points at the platform the node runs', async () => {
  const m = await multiArch();
  const h = await home();
  const r = await load(h, m.tar, { platforms: [ARM64, AMD64] });
  const rec = r.images[0]!;
  assert.equal(rec.name, 'example.org/multi:1');
  assert.equal(rec.indexDigest, m.indexDigest);
  assert.equal(rec.manifestDigest, m.arm.manifestDigest);
  assert.equal(rec.platform, 'linux/arm64/v8');
  for (const i of [m.amd, m.arm]) {
    for (const d of [i.manifestDigest, i.configDigest, i.layerDigest]) assert.ok(await h.content.has(d), d);
  }
  const amdOnly = await multiArch('amd64');
  const h2 = await home();
  const r2 = await load(h2, amdOnly.tar, { platforms: [AMD64] });
  assert.equal(r2.images[0]!.manifestDigest, amdOnly.amd.manifestDigest);
  assert.equal(
    await h2.content.has(amdOnly.arm.manifestDigest),
    false,
    'platforms the archive lacks are skipped',
  );
  const h3 = await home();
  await rejects(load(h3, amdOnly.tar, { platforms: [ARM64] }), 'platform_unsupported', /linux\/arm64/);
  await untouched(h3);
});

test('saving is deterministic, its size is exact, and a saved index loads back whole', async () => {
  const m = await multiArch();
  const h = await home();
  const rec = (await load(h, m.tar, { platforms: [AMD64] })).images[0]!;
  for (const format of ['oci-archive', 'docker-archive'] as const) {
    const a = await saveArchive(h.content, rec, format);
    const b = await saveArchive(h.content, rec, format);
    const [x, y] = [await collect(a.stream()), await collect(b.stream())];
    assert.equal(x.length, a.size);
    assert.ok(x.equals(y), `${format}: two saves differ`);
    assert.equal(a.topDigest, m.indexDigest);
    assert.equal(a.blobs, 7);
    const back = await home();
    const r = await load(back, x, { platforms: [AMD64] });
    assert.deepEqual(
      r.images.map((i) => [i.name, i.manifestDigest, i.indexDigest]),
      [['example.org/multi:1', m.amd.manifestDigest, m.indexDigest]],
    );
  }
});

test('a bad blob early in a large archive fails at once; the rest is never staged', {
  timeout: 20_000,
}, async () => {
  const h = await home();
  const head = rawTar([{ path: `blobs/sha256/${'0'.repeat(64)}`, data: 'hello' }]).subarray(0, 1024);
  const big = 64 * 1024 * 1024;
  const hdr = rawTar([{ path: `blobs/sha256/${'1'.repeat(64)}`, data: '' }]).subarray(0, 512);
  hdr.write(big.toString(8).padStart(11, '0'), 124, 'ascii');
  // The checksum covers the header with its checksum field read as spaces.
  hdr.fill(' ', 148, 156);
  let sum = 0;
  for (const b of hdr) sum += b;
  hdr.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  let sent = 0;
  const body = async function* () {
    yield head;
    yield hdr;
    const chunk = Buffer.alloc(64 * 1024, 7);
    for (; sent < big; sent += chunk.length) yield chunk;
    yield Buffer.alloc(1024);
  };
  const input = Readable.from(body());
  await rejects(
    loadArchive(h.content, h.repo, input, { platforms: [AMD64] }),
    'manifest_invalid',
    /blobs\/sha256\/0{64}: content does not match/,
  );
  assert.ok(sent < big, 'the loader stopped reading');
  input.destroy();
  await untouched(h);
});
