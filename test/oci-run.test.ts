/**
 * Functions on registry images, end to end: a real docker-registry on loopback, the embedded
 * server pulling at deploy, layers unpacked once, runc running the image's config with agni.yaml
 * overrides on an overlay root; and the refusals (wrong platform, missing image, nothing to run).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { ContentStore } from '../src/image/oci/content-store.js';
import { MT } from '../src/image/oci/media-types.js';
import { pushImage } from '../src/image/oci/push.js';
import { parseReference } from '../src/image/oci/reference.js';
import { RegistryClient } from '../src/image/oci/registry-client.js';
import { busyboxLayer, startRegistry, type TestRegistry } from './helpers/registry.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { fnDir, tarOf } from './helpers/tarball.js';

let reg: TestRegistry;
let srv: TestServer;
let scratch: string;
let layer: Buffer;

/** Pushes a one-layer busybox image with the given config and platform to `ref`. */
async function pushBusybox(ref: string, config: Record<string, unknown>, arch = 'amd64'): Promise<string> {
  const store = new ContentStore(mkdtempSync(join(scratch, 'cs-')));
  const layerDigest = await store.putBytes(layer);
  const cfg = Buffer.from(
    JSON.stringify({ architecture: arch, os: 'linux', config, rootfs: { type: 'layers', diff_ids: [] } }),
  );
  const configDigest = await store.putBytes(cfg);
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.ociManifest,
      config: { mediaType: MT.ociConfig, digest: configDigest, size: cfg.length },
      layers: [{ mediaType: MT.ociLayerGzip, digest: layerDigest, size: layer.length }],
    }),
  );
  const digest = await store.putBytes(manifest);
  await pushImage(new RegistryClient({ host: reg.host }), store, digest, parseReference(ref));
  return digest;
}

interface Reply {
  runtime?: string;
  error: { code: string; message: string };
}

async function deploy(files: Record<string, string>, query = ''): Promise<{ status: number; body: Reply }> {
  const r = await fetch(`${srv.url}/v1/functions${query}`, {
    method: 'POST',
    headers: { 'content-type': 'application/gzip' },
    body: new Uint8Array(await tarOf(fnDir(files))),
  });
  return { status: r.status, body: (await r.json()) as Reply };
}

async function invoke(
  name: string,
  data = '',
): Promise<{ status: number; text: string; exit: string | null }> {
  const r = await fetch(`${srv.url}/v1/functions/${name}/invoke`, { method: 'POST', body: data });
  const text = await r.text();
  return { status: r.status, text, exit: r.headers.get('agni-exit-code') };
}

before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'agni-ocirun-'));
  layer = await busyboxLayer();
  reg = await startRegistry();
  srv = await startTestServer();
});

after(async () => {
  await srv?.close();
  await reg?.close();
  rmSync(scratch, { recursive: true, force: true });
});

describe('functions on registry images', () => {
  test("the image config runs, with agni.yaml's env on top; root is read-only; uid 0 becomes nobody", async () => {
    const ref = `${reg.host}/tools/greeter:1`;
    await pushBusybox(ref, {
      Entrypoint: ['/bin/sh', '-c'],
      Cmd: ['echo "$GREETING $WHO from $(pwd) as $(id -u)"; touch /x 2>/dev/null && echo wrote || echo ro'],
      Env: ['PATH=/bin', 'GREETING=hello', 'WHO=image'],
      WorkingDir: '/tmp',
      User: '0',
    });
    const d = await deploy({ 'agni.yaml': `name: greeter\nruntime: ${ref}\nenv:\n  WHO: yaml\n` });
    assert.equal(d.status, 201, JSON.stringify(d.body));
    const r = await invoke('greeter');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.text, 'hello yaml from /tmp as 65534\nro\n');
    // Layers were unpacked once, at deploy, into the shared layer store.
    assert.equal(
      readdirSync(join(srv.home, 'content', 'layers')).filter((n) => !n.endsWith('.tmp')).length,
      1,
    );
    const fn = await (await fetch(`${srv.url}/v1/functions/greeter`)).json();
    assert.match(JSON.stringify(fn), /oci:sha256:[0-9a-f]{64}/);
  });

  test('agni.yaml command and workdir replace Cmd and WorkingDir; the function files are at /fn', async () => {
    const ref = `${reg.host}/tools/plain:1`;
    await pushBusybox(ref, { Cmd: ['/bin/false'], Env: ['PATH=/bin'] });
    const d = await deploy({
      'agni.yaml': `name: plain\nruntime: ${ref}\ncommand: ["/bin/sh", "run.sh"]\nworkdir: /fn\n`,
      'run.sh': 'read x; echo "got $x in $(pwd)"\n',
    });
    assert.equal(d.status, 201, JSON.stringify(d.body));
    const r = await invoke('plain', 'data\n');
    assert.equal(r.text, 'got data in /fn\n');
  });

  test('an image for another arch is refused at deploy, naming what it runs on', async () => {
    const ref = `${reg.host}/tools/armonly:1`;
    await pushBusybox(ref, { Cmd: ['/bin/true'] }, 'riscv64');
    const d = await deploy({ 'agni.yaml': `name: armonly\nruntime: ${ref}\n` });
    assert.equal(d.status, 422, JSON.stringify(d.body));
    assert.equal(d.body.error.code, 'platform_unsupported');
    assert.match(d.body.error.message, /runtime/);
    assert.match(d.body.error.message, /linux\/riscv64/);
    assert.equal((await fetch(`${srv.url}/v1/functions/armonly`)).status, 404);
  });

  test('nothing to run, or no such image: clear errors naming the field', async () => {
    const ref = `${reg.host}/tools/nocmd:1`;
    await pushBusybox(ref, { Env: ['PATH=/bin'] });
    const a = await deploy({ 'agni.yaml': `name: nocmd\nruntime: ${ref}\n` });
    assert.equal(a.status, 400, JSON.stringify(a.body));
    assert.match(a.body.error.message, /command/);
    const b = await deploy({ 'agni.yaml': `name: missing\nruntime: ${reg.host}/tools/absent:1\n` });
    assert.equal(b.status, 404, JSON.stringify(b.body));
    assert.match(b.body.error.message, /runtime/);
    const c = await deploy({ 'agni.yaml': 'name: badref\nruntime: "Not A Ref!"\n' });
    assert.equal(c.status, 400, JSON.stringify(c.body));
    assert.match(c.body.error.message, /runtime/);
  });

  test('?runtime= replaces agni.yaml runtime (what deploy --build uses)', async () => {
    const ref = `${reg.host}/tools/greeter:1`;
    const d = await deploy(
      { 'agni.yaml': 'name: over\nruntime: host\ncommand: ["echo $GREETING too"]\n' },
      `?runtime=${encodeURIComponent(ref)}`,
    );
    assert.equal(d.status, 201, JSON.stringify(d.body));
    assert.equal(d.body.runtime, ref);
    const r = await invoke('over');
    // The image's Entrypoint (sh -c) stays; agni.yaml's command replaces its Cmd, as in Docker.
    assert.equal(r.text, 'hello too\n', JSON.stringify(r));
  });

  test('a stopped server leaves no overlay mount and no sandbox dir behind', async () => {
    await srv.close();
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
    assert.doesNotMatch(mounts, new RegExp(srv.home.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')));
    assert.deepEqual(readdirSync(join(srv.home, 'sandboxes')), []);
  });
});
