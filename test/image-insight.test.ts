/**
 * `agni image ls|inspect|rm|prune|similarity` end to end: three images sharing a base layer (one
 * through a two-platform index) pushed to a real docker-registry and pulled through a real server,
 * functions deployed on them (runc), and removals and prunes checked against the bytes on disk.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { ContentStore, sha256Digest } from '../src/image/oci/content-store.js';
import { MT } from '../src/image/oci/media-types.js';
import { formatPlatform, hostPlatform } from '../src/image/oci/platform.js';
import { pushImage } from '../src/image/oci/push.js';
import { parseReference } from '../src/image/oci/reference.js';
import { RegistryClient } from '../src/image/oci/registry-client.js';
import { CLI } from './helpers/agni-up.js';
import { makeBusyboxRootfs } from './helpers/busybox-rootfs.js';
import { deployFiles } from './helpers/deploy.js';
import { layerTar } from './helpers/layer-tar.js';
import { busyboxLayer, startRegistry, type TestRegistry } from './helpers/registry.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { tarOf } from './helpers/tarball.js';

const run = promisify(execFile);

interface Pushed {
  ref: string;
  manifestDigest: string;
  manifestSize: number;
  configDigest: string;
  configSize: number;
  layers: string[];
}

/** A small gzip layer of its own (random content, so no two are alike). */
function smallLayer(name: string): Buffer {
  return gzipSync(
    layerTar([{ path: `${name}/` }, { path: `${name}/data`, data: randomBytes(3000).toString('hex') }]),
  );
}

describe('agni image ls / inspect / similarity / prune / rm', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'agni-insight-'));
  const src = new ContentStore(join(scratch, 'src'));
  let reg: TestRegistry;
  let s: TestServer;
  let base: Buffer;
  const refs = { a: '', b: '', c: '', d: '' };

  const agni = async (args: string[]) => {
    try {
      const r = await run('node', [CLI, ...args], { env: { ...process.env, AGNI_URL: s.url } });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (e) {
      const x = e as { code: number; stdout: string; stderr: string };
      return { code: x.code, stdout: x.stdout, stderr: x.stderr };
    }
  };
  const json = async <T>(args: string[]): Promise<T> => {
    const r = await agni([...args, '--json']);
    assert.equal(r.code, 0, r.stderr);
    return JSON.parse(r.stdout) as T;
  };

  /** Stores a manifest over `layers` with its own config in `src`; arch and config as given. */
  async function storeManifest(layers: Buffer[], config: Record<string, unknown>, arch = 'amd64') {
    const layerDigests: string[] = [];
    for (const l of layers) layerDigests.push(await src.putBytes(l));
    const cfg = Buffer.from(
      JSON.stringify({
        architecture: arch,
        os: 'linux',
        created: '2024-05-01T12:00:00Z',
        config,
        rootfs: { type: 'layers', diff_ids: [] },
        nonce: randomBytes(4).toString('hex'),
      }),
    );
    const configDigest = await src.putBytes(cfg);
    const manifest = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        config: { mediaType: MT.ociConfig, digest: configDigest, size: cfg.length },
        layers: layers.map((l, i) => ({
          mediaType: MT.ociLayerGzip,
          digest: layerDigests[i],
          size: l.length,
        })),
      }),
    );
    const manifestDigest = await src.putBytes(manifest);
    return {
      manifestDigest,
      manifestSize: manifest.length,
      configDigest,
      configSize: cfg.length,
      layers: layerDigests,
    };
  }

  async function push(ref: string, digest: string): Promise<void> {
    await pushImage(new RegistryClient({ host: reg.host }), src, digest, parseReference(ref));
  }

  async function pushed(ref: string, layers: Buffer[], config: Record<string, unknown>): Promise<Pushed> {
    const m = await storeManifest(layers, config);
    await push(ref, m.manifestDigest);
    return { ref, ...m };
  }

  const pull = async (ref: string) => {
    const r = await agni(['image', 'pull', ref, '--json']);
    assert.equal(r.code, 0, r.stderr);
  };

  const blobsDir = () => join(s.home, 'content', 'blobs', 'sha256');
  const layersDir = () => join(s.home, 'content', 'layers');
  const blobBytesOnDisk = () =>
    readdirSync(blobsDir()).reduce((n, f) => n + statSync(join(blobsDir(), f)).size, 0);
  const hasBlob = (d: string) => existsSync(join(blobsDir(), d.slice(7)));
  const unpacked = (d: string) => existsSync(join(layersDir(), d.slice(7)));

  let A: Pushed;
  let B: Pushed;
  let C: Pushed;
  let cIndex: { digest: string; size: number };

  before(async () => {
    reg = await startRegistry();
    s = await startTestServer();
    base = await busyboxLayer();
    refs.a = `${reg.host}/insight/a:1`;
    refs.b = `${reg.host}/insight/b:1`;
    refs.c = `${reg.host}/insight/c:1`;
    refs.d = `${reg.host}/insight/d:1`;
    const env = { Env: ['PATH=/bin'] };
    A = await pushed(refs.a, [base], { ...env, Cmd: ['/bin/sh', '-c', 'echo a'] });
    B = await pushed(refs.b, [base, smallLayer('b1')], {
      ...env,
      Cmd: ['/bin/sh', '-c', 'cat /b1/data | wc -c'],
    });
    // c is a two-platform index; the server (amd64) pulls the amd64 entry only.
    const cAmd = await storeManifest([base, smallLayer('c1'), smallLayer('c2')], {
      ...env,
      Entrypoint: ['/bin/sh', '-c'],
      Cmd: ['echo c'],
      WorkingDir: '/c1',
      User: '1000:1000',
    });
    const cArm = await storeManifest([smallLayer('arm')], env, 'arm64');
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MT.ociIndex,
        manifests: [
          {
            mediaType: MT.ociManifest,
            digest: cAmd.manifestDigest,
            size: cAmd.manifestSize,
            platform: { os: 'linux', architecture: 'amd64' },
          },
          {
            mediaType: MT.ociManifest,
            digest: cArm.manifestDigest,
            size: cArm.manifestSize,
            platform: { os: 'linux', architecture: 'arm64', variant: 'v8' },
          },
        ],
      }),
    );
    cIndex = { digest: await src.putBytes(index), size: index.length };
    await push(refs.c, cIndex.digest);
    C = { ref: refs.c, ...cAmd };
    for (const r of [refs.a, refs.b, refs.c]) await pull(r);
  });

  after(async () => {
    await s?.close();
    await reg?.close();
    rmSync(scratch, { recursive: true, force: true });
    if (s) rmSync(s.home, { recursive: true, force: true });
  });

  test('ls: sizes, shared bytes, architectures and what sharing saves', async () => {
    type Entry = {
      name: string;
      kind: string;
      architectures: string[];
      sizeBytes: number;
      uniqueBytes: number;
      sharedBytes: number;
      layerCount: number;
    };
    const images = await json<Entry[]>(['image', 'ls']);
    const by = Object.fromEntries(images.map((i) => [i.name, i]));
    assert.deepEqual(Object.keys(by).sort(), [refs.a, refs.b, refs.c].sort());
    const a = by[refs.a]!;
    assert.equal(a.kind, 'oci');
    assert.equal(a.sizeBytes, A.manifestSize + A.configSize + base.length);
    assert.equal(a.sharedBytes, base.length, 'the base layer is shared with b and c');
    assert.equal(a.uniqueBytes, A.manifestSize + A.configSize);
    assert.deepEqual(a.architectures, ['linux/amd64']);
    const c = by[refs.c]!;
    assert.deepEqual(c.architectures, ['linux/amd64', 'linux/arm64/v8']);
    assert.equal(c.layerCount, 3);
    const cLayers =
      statSync(join(blobsDir(), C.layers[1]!.slice(7))).size +
      statSync(join(blobsDir(), C.layers[2]!.slice(7))).size;
    assert.equal(c.sizeBytes, C.manifestSize + C.configSize + cIndex.size + base.length + cLayers);
    assert.equal(c.sharedBytes, base.length);

    const api = (await (await fetch(`${s.url}/v1/oci/images`)).json()) as {
      totals: { savedBytes: number; storeBytes: number; referencedBytes: number; reclaimableBytes: number };
    };
    assert.equal(api.totals.savedBytes, 2 * base.length, 'the base is stored once instead of three times');
    assert.equal(api.totals.storeBytes, blobBytesOnDisk());
    assert.equal(api.totals.reclaimableBytes, 0);

    const table = await agni(['image', 'ls']);
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^NAME\s+KIND\s+ARCH\s+SIZE\s+SHARED\s+LAYERS\s+CREATED/);
    assert.match(table.stdout, /insight\/c:1\s+oci\s+amd64 \(\+arm64\/v8\)/);
    assert.match(table.stdout, /3 image\(s\): 3 oci, 0 rootfs; .*sharing saves/);
    // The old verb still answers, with OCI images only.
    const old = await json<{ name: string }[]>(['image', 'oci-ls']);
    assert.equal(old.length, 3);
  });

  test('inspect: digests, config and layers with the images that share them', async () => {
    type Insp = {
      manifestDigest: string;
      indexDigest: string;
      configDigest: string;
      created: string;
      config: { Entrypoint: string[]; Cmd: string[]; Env: string[]; WorkingDir: string; User: string };
      layers: { digest: string; size: number; mediaType: string; unpacked: boolean; sharedWith: string[] }[];
    };
    const i = await json<Insp>(['image', 'inspect', refs.c]);
    assert.equal(i.manifestDigest, C.manifestDigest);
    assert.equal(i.indexDigest, cIndex.digest);
    assert.equal(i.configDigest, C.configDigest);
    assert.equal(i.created, '2024-05-01T12:00:00Z');
    assert.deepEqual(i.config, {
      Entrypoint: ['/bin/sh', '-c'],
      Cmd: ['echo c'],
      Env: ['PATH=/bin'],
      WorkingDir: '/c1',
      User: '1000:1000',
    });
    assert.deepEqual(
      i.layers.map((l) => [l.digest, l.mediaType, l.unpacked]),
      C.layers.map((d) => [d, MT.ociLayerGzip, false]),
    );
    assert.deepEqual(i.layers[0]!.sharedWith.sort(), [refs.a, refs.b].sort());
    assert.deepEqual(i.layers[1]!.sharedWith, []);
    const text = await agni(['image', 'inspect', refs.c]);
    assert.match(text.stdout, /Entrypoint: \["\/bin\/sh","-c"\]/);
    assert.match(text.stdout, /LAYER\s+SIZE\s+MEDIA TYPE\s+UNPACKED\s+SHARED WITH/);
    const missing = await agni(['image', 'inspect', `${reg.host}/insight/nope:1`]);
    assert.equal(missing.code, 66);
    assert.match(missing.stderr, /no image named .*nope:1/);
  });

  test('similarity: Jaccard values as a table, JSON and a heat-map SVG', async () => {
    const m = await json<{ names: string[]; values: number[][] }>([
      'image',
      'similarity',
      refs.a,
      refs.b,
      refs.c,
    ]);
    assert.deepEqual(m.names, [refs.a, refs.b, refs.c]);
    assert.deepEqual(m.values, [
      [1, 1 / 2, 1 / 3],
      [1 / 2, 1, 1 / 4],
      [1 / 3, 1 / 4, 1],
    ]);
    const svg = join(scratch, 'sim.svg');
    const t = await agni(['image', 'similarity', '--svg', svg]);
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stdout, /1\s+\S+insight\/a:1\s+1\.00\s+0\.50\s+0\.33/);
    assert.match(t.stdout, new RegExp(`wrote ${svg}`));
    const text = readFileSync(svg, 'utf8');
    assert.match(text, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.ok(text.includes(refs.b) && text.includes('>0.25<'));
    const bad = await agni(['image', 'similarity', refs.a, `${reg.host}/insight/nope:1`]);
    assert.equal(bad.code, 66);
  });

  test('prune keeps what a function version pins, then frees it once the function is gone', async () => {
    // d:1 runs a function; then the tag moves and the new d:1 is pulled over the record.
    const D1 = await pushed(refs.d, [base, smallLayer('d1')], {
      Env: ['PATH=/bin'],
      Cmd: ['/bin/sh', '-c', 'ls /'],
    });
    await deployFiles(s.url, { 'agni.yaml': `name: on-d\nruntime: ${refs.d}\n` });
    assert.ok(unpacked(D1.layers[1]!) && unpacked(A.layers[0]!), 'layers unpacked at deploy');
    const D2 = await pushed(refs.d, [base, smallLayer('d2')], { Env: ['PATH=/bin'], Cmd: ['true'] });
    await pull(refs.d);
    // A download that was cut off, kept for resuming.
    const part = join(s.home, 'content', 'ingest', `${sha256Digest(Buffer.from('cut')).slice(7)}.part`);
    writeFileSync(part, Buffer.alloc(1234));

    const kept = await json<{ blobs: number; layerDirs: number; partialsKept: number; freedBytes: number }>([
      'image',
      'prune',
    ]);
    assert.deepEqual(
      [kept.blobs, kept.layerDirs, kept.freedBytes],
      [0, 0, 0],
      'on-d v1 still pins the old d:1',
    );
    assert.equal(kept.partialsKept, 1);
    assert.ok(existsSync(part));
    const r = await fetch(`${s.url}/v1/functions/on-d/invoke`, { method: 'POST', body: '' });
    assert.equal(r.status, 200);
    assert.match(await r.text(), /d1/, 'the function still runs on the image it was deployed on');

    assert.equal((await agni(['rm', 'on-d'])).code, 0);
    const before = blobBytesOnDisk();
    const dry = await json<{ dryRun: boolean; blobs: number; blobBytes: number }>([
      'image',
      'prune',
      '--dry-run',
    ]);
    assert.equal(dry.dryRun, true);
    assert.equal(blobBytesOnDisk(), before, 'a dry run removes nothing');
    const gone = await json<{ blobs: number; blobBytes: number; layerDirs: number; leftovers: number }>([
      'image',
      'prune',
      '--all',
    ]);
    const d1Layer = statSync(src.path(D1.layers[1]!)).size;
    assert.equal(gone.blobs, 3, 'the old manifest, config and d1 layer');
    assert.equal(gone.blobBytes, D1.manifestSize + D1.configSize + d1Layer);
    assert.equal(dry.blobBytes, gone.blobBytes);
    assert.equal(blobBytesOnDisk(), before - gone.blobBytes, 'bytes on disk went down by what was reported');
    assert.equal(gone.layerDirs, 1);
    assert.ok(!unpacked(D1.layers[1]!), "d1's unpacked layer is gone");
    assert.ok(unpacked(A.layers[0]!), 'the base stays unpacked: images still have it');
    assert.ok(!existsSync(part), '--all removes partial downloads');
    assert.equal(gone.leftovers, 1);
    for (const d of [
      D2.manifestDigest,
      D2.configDigest,
      ...D2.layers,
      ...A.layers,
      ...B.layers,
      ...C.layers,
    ]) {
      assert.ok(hasBlob(d), `${d} is referenced and stays`);
    }
    assert.ok(hasBlob(cIndex.digest));
  });

  test('rm refuses an image a function runs on, naming it; afterwards frees only what nothing else needs', async () => {
    await deployFiles(s.url, { 'agni.yaml': `name: on-b\nruntime: ${refs.b}\n` });
    const r = await fetch(`${s.url}/v1/functions/on-b/invoke`, { method: 'POST', body: '' });
    assert.equal((await r.text()).trim(), '6000');
    assert.ok(unpacked(B.layers[1]!));
    const refused = await agni(['image', 'rm', refs.b]);
    assert.equal(refused.code, 65, refused.stderr);
    assert.match(refused.stderr, /is used by on-b v1/);
    assert.match(refused.stderr, /hint: .*agni rm on-b/);
    assert.ok(hasBlob(B.manifestDigest));

    assert.equal((await agni(['rm', 'on-b'])).code, 0);
    const before = blobBytesOnDisk();
    const rm = await json<{ freedBytes: number; blobs: number; layerDirs: number }>(['image', 'rm', refs.b]);
    const b1 = statSync(src.path(B.layers[1]!)).size;
    assert.equal(rm.blobs, 3, 'manifest, config and its own layer; not the shared base');
    assert.equal(blobBytesOnDisk(), before - (B.manifestSize + B.configSize + b1));
    assert.equal(rm.layerDirs, 1);
    assert.ok(!unpacked(B.layers[1]!));
    assert.ok(hasBlob(A.layers[0]!) && unpacked(A.layers[0]!), 'a and c still have the base');
  });

  test('an image removed, then pulled and deployed again, unpacks again and runs', async () => {
    await deployFiles(s.url, { 'agni.yaml': `name: on-b2\nruntime: ${refs.b}\n` });
    const again = await fetch(`${s.url}/v1/functions/on-b2/invoke`, { method: 'POST', body: '' });
    assert.equal((await again.text()).trim(), '6000');
  });

  test('the last images holding a layer take it with them; nothing is left once all are gone', async () => {
    await agni(['rm', 'on-b2']);
    await agni(['image', 'rm', refs.b]);
    // The index's present children go with c.
    assert.equal((await agni(['image', 'rm', refs.a])).code, 0);
    assert.equal((await agni(['image', 'rm', refs.c])).code, 0);
    assert.equal((await agni(['image', 'rm', refs.d])).code, 0);
    assert.deepEqual(readdirSync(blobsDir()), [], 'nothing left once every image is gone');
    assert.deepEqual(
      readdirSync(layersDir()).filter((n) => !n.endsWith('.tmp')),
      [],
    );
    const twice = await agni(['image', 'rm', refs.a]);
    assert.equal(twice.code, 66);
  });

  test('an imported rootfs is an OCI image: listed with its platform, compared, refused while a function uses it', async () => {
    const up = await fetch(`${s.url}/v1/images/bb`, {
      method: 'POST',
      headers: { 'content-type': 'application/gzip' },
      body: new Uint8Array(await tarOf(makeBusyboxRootfs(join(scratch, 'bb')))),
    });
    assert.equal(up.status, 201);
    assert.match(((await up.json()) as { id: string }).id, /^oci:sha256:[0-9a-f]{64}$/);
    await deployFiles(s.url, { 'agni.yaml': 'name: on-bb\nruntime: bb\ncommand: ["true"]\n' });
    const ls = await json<{ name: string; kind: string; layerCount: number; architectures: string[] }[]>([
      'image',
      'ls',
    ]);
    const bb = ls.find((i) => i.name === 'bb')!;
    assert.equal(bb.kind, 'oci');
    assert.equal(bb.layerCount, 1);
    assert.deepEqual(bb.architectures, [formatPlatform(hostPlatform())], "the server's own platform");
    const sim = await agni(['image', 'similarity', '--json']);
    assert.equal(sim.code, 0, sim.stderr);
    const m = JSON.parse(sim.stdout) as { names: string[]; values: number[][] };
    const at = m.names.indexOf('bb');
    assert.ok(at >= 0, `bb is compared with the others: ${m.names.join(', ')}`);
    assert.equal(m.values[at]![at], 1);
    const refused = await agni(['image', 'rm', 'bb']);
    assert.equal(refused.code, 65);
    assert.match(refused.stderr, /image bb is used by on-bb v1/);
    assert.equal((await agni(['rm', 'on-bb'])).code, 0);
    const ok = await agni(['image', 'rm', 'bb']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /removed bb: freed/);
  });

  test('a rootfs image imported before images were OCI is still listed, run and refused while used', async () => {
    // What an earlier version left: a directory under images/ and a row in the images table.
    const rootfs = makeBusyboxRootfs(join(s.home, 'images', 'img-legacy', 'rootfs'));
    await s.store.putImage({
      id: 'img-legacy',
      name: 'oldbb',
      rootfs,
      sizeBytes: 1,
      files: 400,
      source: rootfs,
      createdAt: Date.now(),
    });
    await deployFiles(s.url, { 'agni.yaml': 'name: on-old\nruntime: oldbb\ncommand: [/bin/echo, old]\n' });
    const run = await fetch(`${s.url}/v1/functions/on-old/invoke`, { method: 'POST', body: '' });
    assert.equal(run.status, 200);
    assert.equal(await run.text(), 'old\n');
    const ls = await json<{ name: string; kind: string }[]>(['image', 'ls']);
    assert.equal(ls.find((i) => i.name === 'oldbb')?.kind, 'rootfs');
    const refused = await agni(['image', 'rm', 'oldbb']);
    assert.equal(refused.code, 65);
    assert.match(refused.stderr, /image oldbb is used by on-old v1/);
    const sim = await agni(['image', 'similarity', 'oldbb']);
    assert.equal(sim.code, 64);
    assert.match(sim.stderr, /oldbb is a local rootfs image/);
    assert.equal((await agni(['rm', 'on-old'])).code, 0);
    const ok = await agni(['image', 'rm', 'oldbb', '--kind', 'rootfs']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.match(ok.stdout, /removed rootfs image oldbb/);
  });
});
