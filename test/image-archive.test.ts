/**
 * `agni image load/save` against real skopeo and a real docker-registry: images skopeo writes as
 * an OCI layout, a docker-archive and an oci-archive load with the registry's digests; what Agni
 * saves in each format skopeo reads back and pushes; broken archives are refused leaving nothing
 * behind; and a function runs on a loaded image.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import { saveArchive } from '../src/image/oci/archive-write.js';
import { ContentStore, sha256Digest } from '../src/image/oci/content-store.js';
import { pushImage } from '../src/image/oci/push.js';
import { parseReference } from '../src/image/oci/reference.js';
import { RegistryClient } from '../src/image/oci/registry-client.js';
import { CLI } from './helpers/agni-up.js';
import { type ProperImage, rawTar, storeProperImage, tinyLayer } from './helpers/oci-archive.js';
import { busyboxLayer, startRegistry, type TestRegistry } from './helpers/registry.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { fnDir, tarOf } from './helpers/tarball.js';

const run = promisify(execFile);

interface Rec {
  name: string;
  manifestDigest: string;
  configDigest: string;
  layers: { digest: string; mediaType: string }[];
}

describe('agni image load / save with skopeo', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'agni-archive-it-'));
  let reg: TestRegistry;
  let s: TestServer;
  let img: ProperImage;
  let ref: string;

  const agni = async (args: string[]) => {
    try {
      const r = await run(process.execPath, [CLI, ...args], {
        env: { ...process.env, AGNI_URL: s.url },
        maxBuffer: 64 * 1024 * 1024,
      });
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (e) {
      const x = e as { code: number; stdout: string; stderr: string };
      return { code: x.code, stdout: x.stdout, stderr: x.stderr };
    }
  };
  const skopeo = async (...args: string[]) =>
    (await run('skopeo', args, { maxBuffer: 64 * 1024 * 1024 })).stdout;
  const loaded = async (args: string[]): Promise<Rec[]> => {
    const r = await agni(['image', 'load', ...args, '--json']);
    assert.equal(r.code, 0, r.stderr);
    return (JSON.parse(r.stdout) as { images: Rec[] }).images;
  };
  const path = (name: string) => join(scratch, name);
  const blobsOnDisk = () => readdirSync(join(s.home, 'content', 'blobs', 'sha256')).sort();
  const records = async () =>
    ((await (await fetch(`${s.url}/v1/oci/images`)).json()) as { images: Rec[] }).images
      .map((i) => i.name)
      .sort();

  before(async () => {
    reg = await startRegistry();
    const src = new ContentStore(path('src'));
    img = await storeProperImage(src, await busyboxLayer(), { cmd: ['/bin/sh'] });
    ref = `${reg.host}/interop/busybox:1`;
    await pushImage(new RegistryClient({ host: reg.host }), src, img.manifestDigest, parseReference(ref));
    s = await startTestServer();
  });
  after(async () => {
    await s?.close();
    await reg?.close();
    rmSync(scratch, { recursive: true, force: true });
    if (s) rmSync(s.home, { recursive: true, force: true });
  });

  test('skopeo oci:DIR:tag loads with the registry digests (--name gives the tag-only layout a name)', async () => {
    await skopeo('copy', '--src-tls-verify=false', `docker://${ref}`, `oci:${path('layout')}:1`);
    const [r, ...rest] = await loaded([path('layout'), '--name', ref]);
    assert.equal(rest.length, 0);
    assert.equal(r!.name, ref);
    assert.equal(r!.manifestDigest, img.manifestDigest);
    assert.equal(r!.configDigest, img.configDigest);
    assert.deepEqual(
      r!.layers.map((l) => l.digest),
      [img.layerDigest],
    );
  });

  test('skopeo docker-archive loads under its RepoTag: same config, layers as their diff_ids', async () => {
    await skopeo(
      'copy',
      '--src-tls-verify=false',
      `docker://${ref}`,
      `docker-archive:${path('docker.tar')}:${reg.host}/da/busybox:2`,
    );
    const [r] = await loaded([path('docker.tar')]);
    assert.equal(r!.name, `${reg.host}/da/busybox:2`);
    assert.equal(r!.configDigest, img.configDigest);
    // docker-archive stores layers uncompressed: their digest is the registry layer's, unzipped.
    assert.deepEqual(
      r!.layers.map((l) => [l.digest, l.mediaType]),
      [[img.diffId, 'application/vnd.oci.image.layer.v1.tar']],
    );
  });

  test('skopeo oci-archive with a full reference loads under that name', async () => {
    await skopeo(
      'copy',
      '--src-tls-verify=false',
      `docker://${ref}`,
      `oci-archive:${path('oci.tar')}:${reg.host}/oa/busybox:3`,
    );
    const [r] = await loaded([path('oci.tar')]);
    assert.equal(r!.name, `${reg.host}/oa/busybox:3`);
    assert.equal(r!.manifestDigest, img.manifestDigest);
    // The same archive on stdin, as in `docker save IMAGE | agni image load -`.
    const piped = await run(
      'bash',
      ['-c', `node ${CLI} image load - --name piped/busybox:4 --json < "$1"`, 'x', path('oci.tar')],
      {
        env: { ...process.env, AGNI_URL: s.url },
      },
    );
    const p = JSON.parse(piped.stdout).images[0];
    assert.deepEqual([p.name, p.manifestDigest], ['docker.io/piped/busybox:4', img.manifestDigest]);
  });

  test('agni image save oci-dir: skopeo inspects it and pushes it with the same manifest digest', async () => {
    const out = path('saved-layout');
    const r = await agni(['image', 'save', ref, '-o', out, '--format', 'oci-dir', '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(JSON.parse(r.stdout).digest, img.manifestDigest);
    const inspected = JSON.parse(await skopeo('inspect', `oci:${out}:1`));
    assert.equal(inspected.Digest, img.manifestDigest);
    assert.deepEqual(inspected.Layers, [img.layerDigest]);
    await skopeo('copy', '--dest-tls-verify=false', `oci:${out}`, `docker://${reg.host}/other/busybox:oci`);
    const m = await new RegistryClient({ host: reg.host }).getManifest('other/busybox', 'oci');
    assert.equal(sha256Digest(m.bytes), img.manifestDigest);
  });

  test('agni image save docker-archive: skopeo reads it and pushes it; config and layer content match', async () => {
    const out = path('saved-docker.tar');
    const r = await agni(['image', 'save', ref, '-o', out, '--format', 'docker-archive']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /saved .* as docker-archive/);
    const inspected = JSON.parse(await skopeo('inspect', `docker-archive:${out}`));
    assert.deepEqual(inspected.Layers, [img.diffId], 'skopeo sees the layer by its diff_id');
    await skopeo(
      'copy',
      '--dest-tls-verify=false',
      `docker-archive:${out}`,
      `docker://${reg.host}/other/busybox:docker`,
    );
    const client = new RegistryClient({ host: reg.host });
    const m = JSON.parse((await client.getManifest('other/busybox', 'docker')).bytes.toString('utf8'));
    assert.equal(m.config.digest, img.configDigest);
    assert.equal(m.layers.length, 1);
    // skopeo compressed the layer again: its digest differs, its content does not.
    const blob = await client.getBlob('other/busybox', m.layers[0].digest, 0);
    const chunks: Buffer[] = [];
    for await (const c of blob.body) chunks.push(Buffer.from(c));
    assert.equal(sha256Digest(gunzipSync(Buffer.concat(chunks))), img.diffId);
  });

  test('agni image save oci-archive is deterministic and skopeo reads it', async () => {
    const hashes: string[] = [];
    for (const n of ['a', 'b']) {
      const out = path(`saved-${n}.tar`);
      const r = await agni(['image', 'save', ref, '-o', out]);
      assert.equal(r.code, 0, r.stderr);
      hashes.push(createHash('sha256').update(readFileSync(out)).digest('hex'));
    }
    assert.equal(hashes[0], hashes[1]);
    const inspected = JSON.parse(await skopeo('inspect', `oci-archive:${path('saved-a.tar')}`));
    assert.equal(inspected.Digest, img.manifestDigest);
  });

  test('a blob that does not match its digest: clear error, nothing recorded, no blob stored', async () => {
    // An image the server has none of, saved as an OCI archive, then one byte of its layer changed.
    const other = new ContentStore(path('other'));
    const fresh = await storeProperImage(other, tinyLayer('fresh'));
    const saved = await saveArchive(
      other,
      {
        ...fresh,
        name: 'bad/image:1',
        indexDigest: null,
        layers: [],
        platform: 'linux/amd64',
        sizeBytes: 0,
        createdAt: 0,
      },
      'oci-archive',
    );
    const chunks: Buffer[] = [];
    for await (const c of saved.stream()) chunks.push(c);
    const tar = Buffer.concat(chunks);
    const hex = fresh.layerDigest.slice(7);
    const at = tar.indexOf(`blobs/sha256/${hex}`) + 512 + 30;
    tar[at] = (tar[at]! + 1) % 256;
    writeFileSync(path('bad.tar'), tar);
    const blobsBefore = blobsOnDisk();
    const recsBefore = await records();
    const r = await agni(['image', 'load', path('bad.tar')]);
    assert.equal(r.code, 65, r.stderr);
    assert.match(r.stderr, new RegExp(`blobs/sha256/${hex}: content does not match its digest`));
    assert.match(r.stderr, /hint: the archive is damaged/);
    assert.deepEqual(await records(), recsBefore);
    assert.deepEqual(blobsOnDisk(), blobsBefore);
    for (const d of [fresh.manifestDigest, fresh.configDigest, fresh.layerDigest]) {
      assert.ok(!blobsBefore.includes(d.slice(7)));
    }
    assert.deepEqual(
      readdirSync(join(s.home, 'content', 'ingest')).filter((n) => n.startsWith('load-')),
      [],
      'the staging directory is gone',
    );
  });

  test('a manifest.json path with ../ is refused; a root filesystem gets a hint to agni image import', async () => {
    const evil = rawTar([
      {
        path: 'manifest.json',
        data: JSON.stringify([{ Config: 'c.json', RepoTags: ['x:1'], Layers: ['../../etc/passwd'] }]),
      },
      { path: 'c.json', data: '{"os":"linux","architecture":"amd64"}' },
    ]);
    writeFileSync(path('evil.tar'), evil);
    const r = await agni(['image', 'load', path('evil.tar')]);
    assert.equal(r.code, 65, r.stderr);
    assert.match(r.stderr, /Layers\[0\]: path "..\/..\/etc\/passwd" points outside the archive/);

    const rootfs = path('rootfs');
    mkdirSync(join(rootfs, 'bin'), { recursive: true });
    writeFileSync(join(rootfs, 'bin', 'tool'), 'x');
    writeFileSync(path('rootfs.tar'), await tarOf(rootfs));
    const nr = await agni(['image', 'load', path('rootfs.tar')]);
    assert.equal(nr.code, 64, nr.stderr);
    assert.match(nr.stderr, /not an image archive/);
    assert.match(nr.stderr, /hint: .*agni image import NAME ROOTFS/);
    const dir = await agni(['image', 'load', rootfs]);
    assert.equal(dir.code, 64, dir.stderr);
    assert.match(dir.stderr, /not an image archive/);
  });

  test('agni image import refuses an image archive, pointing at agni image load', async () => {
    for (const p of [path('docker.tar'), path('oci.tar'), path('layout')]) {
      const r = await agni(['image', 'import', 'wrongway', p]);
      assert.equal(r.code, 64, r.stderr);
      assert.match(r.stderr, /is an image archive/);
      assert.match(
        r.stderr,
        new RegExp(`hint: load it with \`agni image load ${p.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\``),
      );
    }
  });

  test('a function deploys on a loaded image and runs', async () => {
    // The docker-archive image: a converted manifest over an uncompressed layer.
    const name = `${reg.host}/da/busybox:2`;
    const res = await fetch(`${s.url}/v1/functions`, {
      method: 'POST',
      headers: { 'content-type': 'application/gzip' },
      body: new Uint8Array(
        await tarOf(
          fnDir({
            'agni.yaml': `name: loaded-echo\nruntime: ${name}\ncommand: ["/bin/echo", "hello from a loaded image"]\n`,
          }),
        ),
      ),
    });
    assert.equal(res.status, 201, await res.clone().text());
    const inv = await fetch(`${s.url}/v1/functions/loaded-echo/invoke`, { method: 'POST', body: '' });
    assert.equal(inv.status, 200);
    assert.equal(await inv.text(), 'hello from a loaded image\n');
  });
});
