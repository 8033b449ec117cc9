/**
 * The OCI client against a real docker-registry: push, pull back, platforms, auth, and broken
 * peers (a loopback proxy in front of the registry that corrupts, truncates or cuts blobs).
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { isAgniError } from '../src/core/errors.js';
import { ContentStore } from '../src/image/oci/content-store.js';
import { pullImage } from '../src/image/oci/pull.js';
import { pushImage } from '../src/image/oci/push.js';
import { parseReference } from '../src/image/oci/reference.js';
import { RegistryClient } from '../src/image/oci/registry-client.js';
import {
  type BuiltImage,
  busyboxLayer,
  startRegistry,
  storeImage,
  storeIndex,
  type TestRegistry,
} from './helpers/registry.js';
import { tempDir } from './helpers/tmp.js';

function freshStore(): ContentStore {
  return new ContentStore(tempDir('agni-cs-'));
}

type Tamper = (req: IncomingMessage, status: number, body: Buffer, res: ServerResponse) => boolean;

/** A loopback HTTP proxy to the registry that records requests and may rewrite answers. */
async function startProxy(target: string): Promise<{
  host: string;
  log: { url: string; range?: string }[];
  tamper?: Tamper;
  close(): Promise<void>;
}> {
  const state: {
    host: string;
    log: { url: string; range?: string }[];
    tamper?: Tamper;
    close(): Promise<void>;
  } = {
    host: '',
    log: [],
    close: async () => {},
  };
  const server: Server = createServer(async (req, res) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    state.log.push({ url: req.url ?? '', ...(req.headers.range ? { range: req.headers.range } : {}) });
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers))
      if (typeof v === 'string' && k !== 'host') headers[k] = v;
    const up = await fetch(`http://${target}${req.url}`, {
      method: req.method,
      headers,
      body: chunks.length ? Buffer.concat(chunks) : undefined,
      redirect: 'manual',
    });
    const body = Buffer.from(await up.arrayBuffer());
    if (state.tamper?.(req, up.status, body, res)) return;
    const out: Record<string, string> = {};
    up.headers.forEach((v, k) => {
      if (k !== 'content-length' && k !== 'transfer-encoding' && k !== 'connection') out[k] = v;
    });
    if (out.location) out.location = out.location.replace(target, state.host);
    res.writeHead(up.status, { ...out, 'content-length': String(body.length) });
    res.end(req.method === 'HEAD' ? undefined : body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  state.host = `127.0.0.1:${(server.address() as { port: number }).port}`;
  state.close = () =>
    new Promise<void>((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return state;
}

function isBlobGet(req: IncomingMessage, digest: string): boolean {
  return req.method === 'GET' && (req.url ?? '').endsWith(`/blobs/${digest}`);
}

function storeIsClean(store: ContentStore, digest: string): void {
  assert.equal(existsSync(store.path(digest)), false, 'no blob file for the bad digest');
  const ingest = join(store.root, 'ingest');
  const parts = existsSync(ingest)
    ? readdirSync(ingest).filter((n) => n.endsWith('.lock') || n.endsWith('.tmp'))
    : [];
  assert.deepEqual(parts, [], 'no lock or temp file left');
}

describe('registry client against docker-registry (no auth)', () => {
  let reg: TestRegistry;
  let src: ContentStore;
  let amd: BuiltImage;
  let arm: BuiltImage;
  let indexDigest: string;
  let layer: Buffer;

  before(async () => {
    reg = await startRegistry();
    src = freshStore();
    layer = await busyboxLayer(300_000);
    amd = await storeImage(src, layer, 'amd64');
    arm = await storeImage(src, await busyboxLayer(1000), 'arm64', 'v8');
    indexDigest = await storeIndex(src, [
      { image: amd, arch: 'amd64' },
      { image: arm, arch: 'arm64', variant: 'v8' },
    ]);
  });
  after(async () => {
    await reg.close();
  });

  test('push a single-platform image, then pull it back byte for byte', async () => {
    const client = new RegistryClient({ host: reg.host });
    await client.ping();
    const ref = parseReference(`${reg.host}/team/fn:v1`);
    const r = await pushImage(client, src, amd.manifestDigest, ref);
    assert.equal(r.blobsPushed, 2);
    assert.equal(r.bytesPushed, amd.layerSize + (await src.read(amd.configDigest)).length);
    const again = await pushImage(client, src, amd.manifestDigest, ref);
    assert.equal(again.blobsPushed, 0, 'existing blobs are skipped (HEAD)');
    assert.equal(again.blobsSkipped, 2);

    const dst = freshStore();
    const events: string[] = [];
    const img = await pullImage(new RegistryClient({ host: reg.host }), dst, ref, {
      onEvent: (e) => events.push(e.type),
    });
    assert.equal(img.manifestDigest, amd.manifestDigest);
    assert.equal(img.configDigest, amd.configDigest);
    assert.deepEqual(
      img.layers.map((l) => l.digest),
      [amd.layerDigest],
    );
    assert.equal(img.platform.architecture, 'amd64');
    assert.ok(events.includes('resolved') && events.includes('blob-done'));
    assert.ok((await dst.read(amd.layerDigest)).equals(layer));
    assert.ok(await dst.has(amd.manifestDigest));
  });

  test('chunked upload (PATCH) produces the same blob', async () => {
    const client = new RegistryClient({ host: reg.host, chunkSize: 64 * 1024 });
    const ref = parseReference(`${reg.host}/team/chunked:v1`);
    const r = await pushImage(client, src, amd.manifestDigest, ref);
    assert.equal(r.blobsPushed, 2);
    const dst = freshStore();
    const img = await pullImage(new RegistryClient({ host: reg.host }), dst, ref);
    assert.ok((await dst.read(img.layers[0]!.digest)).equals(layer));
  });

  test('a multi-platform index resolves to the asked platform, and lists what it has otherwise', async () => {
    const client = new RegistryClient({ host: reg.host });
    const ref = parseReference(`${reg.host}/team/multi:1`);
    await pushImage(client, src, indexDigest, ref);
    const dst = freshStore();
    const a = await pullImage(client, dst, ref, { platform: { os: 'linux', architecture: 'arm64' } });
    assert.equal(a.manifestDigest, arm.manifestDigest);
    assert.equal(a.indexDigest, indexDigest);
    assert.equal(a.platform.architecture, 'arm64');
    const b = await pullImage(client, dst, ref, { platform: { os: 'linux', architecture: 'amd64' } });
    assert.equal(b.manifestDigest, amd.manifestDigest);
    await assert.rejects(
      pullImage(client, dst, ref, { platform: { os: 'linux', architecture: 's390x' } }),
      (e: unknown) =>
        isAgniError(e) &&
        /linux\/s390x/.test(e.message) &&
        /linux\/amd64, linux\/arm64\/v8/.test(e.hint ?? ''),
    );
    // By digest too.
    const c = await pullImage(
      client,
      freshStore(),
      parseReference(`${reg.host}/team/multi@${arm.manifestDigest}`),
    );
    assert.equal(c.manifestDigest, arm.manifestDigest);
  });

  test('a missing tag is a not-found error naming the reference', async () => {
    const client = new RegistryClient({ host: reg.host });
    await assert.rejects(
      pullImage(client, freshStore(), parseReference(`${reg.host}/team/fn:nope`)),
      (e: unknown) =>
        isAgniError(e) &&
        e.code === 'image_not_found' &&
        e.message.includes('team/fn:nope') &&
        /MANIFEST_UNKNOWN/.test(e.message),
    );
  });

  describe('broken peers through a loopback proxy', () => {
    let proxy: Awaited<ReturnType<typeof startProxy>>;
    before(async () => {
      proxy = await startProxy(reg.host);
      await pushImage(
        new RegistryClient({ host: reg.host }),
        src,
        amd.manifestDigest,
        parseReference(`${reg.host}/broken/img:v1`),
      );
    });
    after(() => proxy.close());
    const ref = () => parseReference(`${proxy.host}/broken/img:v1`);

    test('a blob whose bytes do not match its digest is refused and not stored', async () => {
      proxy.tamper = (req, status, body, res) => {
        if (!isBlobGet(req, amd.layerDigest) || status !== 200) return false;
        const bad = Buffer.from(body);
        const mid = bad.length >> 1;
        bad[mid] = (bad[mid] ?? 0) ^ 0xff;
        res.writeHead(200, { 'content-length': String(bad.length) });
        res.end(bad);
        return true;
      };
      const dst = freshStore();
      await assert.rejects(
        pullImage(new RegistryClient({ host: proxy.host }), dst, ref()),
        (e: unknown) =>
          isAgniError(e) && e.code === 'registry_error' && /does not match its digest/.test(e.message),
      );
      storeIsClean(dst, amd.layerDigest);
      assert.equal(existsSync(dst.partPath(amd.layerDigest)), false, 'the wrong bytes are dropped');
      assert.equal(await dst.has(amd.manifestDigest), false, 'no manifest stored for a failed pull');
      proxy.tamper = undefined;
    });

    test('a truncated layer is an error; no blob is stored', async () => {
      proxy.tamper = (req, status, body, res) => {
        if (!isBlobGet(req, amd.layerDigest) || status !== 200) return false;
        const short = body.subarray(0, body.length - 1000);
        res.writeHead(200, { 'content-length': String(short.length) });
        res.end(short);
        return true;
      };
      const dst = freshStore();
      await assert.rejects(
        pullImage(new RegistryClient({ host: proxy.host }), dst, ref()),
        (e: unknown) => isAgniError(e) && /truncated: got \d+ of \d+ bytes/.test(e.message),
      );
      storeIsClean(dst, amd.layerDigest);
      proxy.tamper = undefined;
    });

    test('a download cut midway resumes with Range on the next pull', async () => {
      let cut = false;
      proxy.tamper = (req, status, body, res) => {
        if (cut || !isBlobGet(req, amd.layerDigest) || status !== 200) return false;
        cut = true;
        res.writeHead(200, { 'content-length': String(body.length) });
        res.write(body.subarray(0, 100_000), () => res.destroy());
        return true;
      };
      const dst = freshStore();
      await assert.rejects(pullImage(new RegistryClient({ host: proxy.host }), dst, ref()));
      assert.equal(await dst.has(amd.layerDigest), false);
      assert.ok(existsSync(dst.partPath(amd.layerDigest)), 'the prefix is kept for resuming');
      proxy.tamper = undefined;
      proxy.log.length = 0;
      const done: { fetched: number; resumedFrom: number }[] = [];
      await pullImage(new RegistryClient({ host: proxy.host }), dst, ref(), {
        onEvent: (e) => {
          if (e.type === 'blob-done' && e.digest === amd.layerDigest) done.push(e);
        },
      });
      const gets = proxy.log.filter((l) => l.url.endsWith(`/blobs/${amd.layerDigest}`));
      assert.equal(gets.length, 1);
      assert.match(gets[0]!.range ?? '', /^bytes=\d+-$/);
      assert.ok(done[0]!.resumedFrom > 0 && done[0]!.resumedFrom <= 100_000);
      assert.equal(done[0]!.resumedFrom + done[0]!.fetched, amd.layerSize);
      assert.ok((await dst.read(amd.layerDigest)).equals(layer));
      assert.equal(existsSync(dst.partPath(amd.layerDigest)), false);
    });

    test('a manifest of an unknown media type is a clear error', async () => {
      proxy.tamper = (req, status, body, res) => {
        if (!(req.url ?? '').includes('/manifests/') || status !== 200) return false;
        const j = JSON.parse(body.toString());
        j.mediaType = 'application/vnd.example.thing.v1+json';
        const out = Buffer.from(JSON.stringify(j));
        res.writeHead(200, { 'content-type': j.mediaType, 'content-length': String(out.length) });
        res.end(out);
        return true;
      };
      const dst = freshStore();
      await assert.rejects(
        pullImage(new RegistryClient({ host: proxy.host }), dst, ref()),
        (e: unknown) =>
          isAgniError(e) &&
          e.code === 'manifest_invalid' &&
          /unsupported manifest media type "application\/vnd.example.thing.v1\+json"/.test(e.message),
      );
      assert.deepEqual(await dst.list(), []);
      proxy.tamper = undefined;
    });

    test('concurrent pulls of one image fetch each blob once', async () => {
      proxy.log.length = 0;
      const dst = freshStore();
      const [a, b] = await Promise.all([
        pullImage(new RegistryClient({ host: proxy.host }), dst, ref()),
        pullImage(new RegistryClient({ host: proxy.host }), dst, ref()),
      ]);
      assert.equal(a.manifestDigest, b.manifestDigest);
      for (const d of [amd.layerDigest, amd.configDigest]) {
        assert.equal(proxy.log.filter((l) => l.url.endsWith(`/blobs/${d}`)).length, 1, `${d} fetched once`);
      }
    });
  });
});

describe('registry client against docker-registry with htpasswd auth', () => {
  let reg: TestRegistry;
  const creds = { username: 'alice', password: 's3cret-pw' };
  before(async () => {
    reg = await startRegistry(creds);
  });
  after(() => reg.close());

  test('anonymous is refused with a login hint; Basic credentials push and pull', async () => {
    const src = freshStore();
    const img = await storeImage(src, await busyboxLayer());
    const ref = parseReference(`${reg.host}/private/img:v1`);
    await assert.rejects(
      new RegistryClient({ host: reg.host }).ping(),
      (e: unknown) => isAgniError(e) && e.code === 'unauthorized' && e.hint === `agni login ${reg.host}`,
    );
    await assert.rejects(
      new RegistryClient({ host: reg.host, credentials: { username: 'alice', password: 'wrong' } }).ping(),
      (e: unknown) => isAgniError(e) && e.code === 'unauthorized' && !e.message.includes('wrong'),
    );
    const client = new RegistryClient({ host: reg.host, credentials: creds });
    await client.ping();
    await pushImage(client, src, img.manifestDigest, ref);
    await assert.rejects(
      pullImage(new RegistryClient({ host: reg.host }), freshStore(), ref),
      (e: unknown) => isAgniError(e) && e.code === 'unauthorized',
    );
    const pulled = await pullImage(
      new RegistryClient({ host: reg.host, credentials: creds }),
      freshStore(),
      ref,
    );
    assert.equal(pulled.manifestDigest, img.manifestDigest);
  });
});
