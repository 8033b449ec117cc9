/**
 * The Bearer token flow (Docker Hub / GHCR style) against a real docker-registry whose `auth: token`
 * trusts a real token server (test/helpers/token-server.ts): push and pull, one token per scope,
 * renewal, refusals, `agni login`, and credentials from an existing ~/.docker/config.json.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { gzipSync } from 'node:zlib';
import { AgniError } from '../src/core/errors.js';
import { ContentStore } from '../src/image/oci/content-store.js';
import { MT } from '../src/image/oci/media-types.js';
import { pullImage } from '../src/image/oci/pull.js';
import { pushImage } from '../src/image/oci/push.js';
import { parseReference } from '../src/image/oci/reference.js';
import { RegistryClient } from '../src/image/oci/registry-client.js';
import { runCli } from './helpers/agni-up.js';
import { layerTar } from './helpers/layer-tar.js';
import { busyboxLayer, startRegistry, type TestRegistry } from './helpers/registry.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { startTokenServer, type TokenServer } from './helpers/token-server.js';

const alice = { username: 'alice', password: 'alice-Pw-1' };
const bob = { username: 'bob', password: 'bob-Pw-2' };
const LAYERS = 4;

/** A busybox layer plus small distinct layers: enough blobs that a token per blob would show. */
async function storeLayeredImage(store: ContentStore): Promise<{ manifest: string; blobs: string[] }> {
  const layers = [await busyboxLayer()];
  for (let i = 1; i < LAYERS; i++) {
    layers.push(gzipSync(layerTar([{ path: `data/part-${i}.txt`, data: `layer ${i}\n`.repeat(100 * i) }])));
  }
  const descs = [];
  for (const l of layers)
    descs.push({ mediaType: MT.ociLayerGzip, digest: await store.putBytes(l), size: l.length });
  const config = Buffer.from(
    JSON.stringify({
      architecture: 'amd64',
      os: 'linux',
      config: { Cmd: ['/bin/sh'] },
      rootfs: { type: 'layers', diff_ids: [] },
    }),
  );
  const configDigest = await store.putBytes(config);
  const manifest = await store.putBytes(
    Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: MT.ociManifest,
        config: { mediaType: MT.ociConfig, digest: configDigest, size: config.length },
        layers: descs,
      }),
    ),
  );
  return { manifest, blobs: [configDigest, ...descs.map((d) => d.digest)] };
}

async function rejects(p: Promise<unknown>, check: (e: AgniError) => void): Promise<void> {
  try {
    await p;
  } catch (e) {
    assert.ok(e instanceof AgniError, `expected an AgniError, got ${e}`);
    check(e);
    return;
  }
  assert.fail('expected a rejection');
}

describe('bearer tokens: docker-registry with token auth', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'agni-regtoken-'));
  const savedEnv = { HOME: process.env.HOME, DOCKER_CONFIG: process.env.DOCKER_CONFIG };
  let ts: TokenServer;
  let reg: TestRegistry;
  let src: ContentStore;
  let img: { manifest: string; blobs: string[] };
  const servers: TestServer[] = [];
  let stores = 0;
  const freshStore = () => new ContentStore(join(scratch, `store-${stores++}`));
  /** token requests for exactly this scope since `from` */
  const tokenCalls = (scope: string, from = 0) =>
    ts.requests.slice(from).filter((r) => r.scopes.length === 1 && r.scopes[0] === scope);
  const ref = (name: string) => parseReference(`${reg.host}/${name}`);

  before(async () => {
    // The servers must not find the developer's own Docker credentials.
    process.env.DOCKER_CONFIG = join(scratch, 'no-docker');
    ts = await startTokenServer({
      users: {
        alice: { password: alice.password, grants: [{ repo: 'tools/*', actions: ['pull', 'push'] }] },
        bob: { password: bob.password, grants: [{ repo: 'tools/*', actions: ['pull'] }] },
      },
      anonymous: [{ repo: 'tools/public', actions: ['pull'] }],
    });
    reg = await startRegistry(undefined, { token: ts });
    src = freshStore();
    img = await storeLayeredImage(src);
  });
  after(async () => {
    for (const s of servers) {
      await s.close();
      rmSync(s.home, { recursive: true, force: true });
    }
    await reg?.close();
    await ts?.close();
    for (const [k, v] of Object.entries(savedEnv)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
    rmSync(scratch, { recursive: true, force: true });
  });

  const agni = (s: TestServer, args: string[], input?: string) => runCli(s.url, args, input);

  test('push and pull through the token flow: one token per scope, reused for every blob', async () => {
    const from = ts.requests.length;
    const pusher = new RegistryClient({ host: reg.host, credentials: alice });
    const r = await pushImage(pusher, src, img.manifest, ref('tools/fn:v1'));
    assert.equal(r.blobsPushed, LAYERS + 1);
    assert.deepEqual(
      ts.requests.slice(from).map((q) => [q.user, q.scopes.join(' '), q.status]),
      [['alice', 'repository:tools/fn:pull,push', 200]],
      `one token for ${LAYERS + 1} blobs (HEAD, POST, PUT each) and the manifest`,
    );

    const puller = new RegistryClient({ host: reg.host, credentials: alice });
    const dst = freshStore();
    const mid = ts.requests.length;
    const got = await pullImage(puller, dst, ref('tools/fn:v1'));
    assert.equal(got.manifestDigest, img.manifest);
    for (const d of img.blobs) assert.ok((await dst.read(d)).equals(await src.read(d)), `blob ${d} intact`);
    assert.deepEqual(
      ts.requests.slice(mid).map((q) => [q.user, q.scopes.join(' ')]),
      [['alice', 'repository:tools/fn:pull']],
    );
    // The same client pulling again reuses its token.
    const again = ts.requests.length;
    await pullImage(puller, freshStore(), ref('tools/fn:v1'));
    assert.equal(ts.requests.length, again, 'no new token for a second pull of the same scope');
  });

  test('anonymous pull-only access where the token service allows it', async () => {
    await pushImage(
      new RegistryClient({ host: reg.host, credentials: alice }),
      src,
      img.manifest,
      ref('tools/public:v1'),
    );
    const from = ts.requests.length;
    const got = await pullImage(new RegistryClient({ host: reg.host }), freshStore(), ref('tools/public:v1'));
    assert.equal(got.manifestDigest, img.manifest);
    assert.deepEqual(
      ts.requests.slice(from).map((q) => [q.user, q.scopes.join(' ')]),
      [[null, 'repository:tools/public:pull']],
    );
    await rejects(
      pullImage(new RegistryClient({ host: reg.host }), freshStore(), ref('tools/fn:v1')),
      (e) => {
        assert.equal(e.code, 'unauthorized');
        assert.match(e.message, /anonymous access may not pull tools\/fn/);
        assert.equal(e.hint, `agni login ${reg.host} as a user with pull access to tools/fn`);
      },
    );
  });

  test('a token without push scope: a clear error on push, and nothing lands', async () => {
    const dst = ref('tools/bobs:v1');
    await rejects(
      pushImage(new RegistryClient({ host: reg.host, credentials: bob }), src, img.manifest, dst),
      (e) => {
        assert.equal(e.code, 'unauthorized');
        assert.match(e.message, new RegExp(`user "bob" may not push tools/bobs on ${reg.host}`));
        assert.match(e.hint ?? '', /ask for push access to tools\/bobs/);
        assert.deepEqual(e.details?.missing, 'push');
      },
    );
    await rejects(
      pushImage(new RegistryClient({ host: reg.host }), src, img.manifest, ref('tools/public:v2')),
      (e) => {
        assert.equal(e.code, 'unauthorized');
        assert.match(e.message, /anonymous access may not push tools\/public/);
      },
    );
    await rejects(
      new RegistryClient({ host: reg.host, credentials: alice }).getManifest('tools/bobs', 'v1'),
      (e) => assert.equal(e.code, 'image_not_found'),
    );
  });

  test('wrong password: a 401 naming the registry, from the client and from agni login', async () => {
    const from = ts.requests.length;
    await rejects(
      new RegistryClient({ host: reg.host, credentials: { username: 'alice', password: 'nope' } }).ping(),
      (e) => {
        assert.equal(e.code, 'unauthorized');
        assert.match(e.message, new RegExp(`token for ${reg.host} from ${ts.realm.replace(/\/token$/, '')}`));
        assert.match(e.message, /invalid username or password/);
        assert.equal(e.hint, `agni login ${reg.host}`);
      },
    );
    assert.equal(ts.requests.at(-1)?.status, 401);
    assert.equal(ts.requests.length, from + 1, 'a refused login is not retried');

    const s = await startTestServer();
    servers.push(s);
    const wrong = await agni(s, ['login', reg.host, '-u', 'alice', '--password-stdin'], 'nope');
    assert.equal(wrong.code, 77, wrong.stderr);
    assert.match(wrong.stderr, new RegExp(`token for ${reg.host}`));
    assert.match(wrong.stderr, new RegExp(`agni login ${reg.host}`));
  });

  test('agni login, then pull and push through the server', async () => {
    const s = await startTestServer();
    servers.push(s);
    const ok = await agni(s, ['login', reg.host, '-u', 'alice', '--password-stdin'], alice.password);
    assert.equal(ok.code, 0, ok.stderr);
    const from = ts.requests.length;
    const pulled = await agni(s, ['image', 'pull', `${reg.host}/tools/fn:v1`, '--json']);
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.equal(JSON.parse(pulled.stdout).manifestDigest, img.manifest);
    const pushed = await agni(s, [
      'image',
      'push',
      `${reg.host}/tools/fn:v1`,
      `${reg.host}/tools/copy:v1`,
      '--json',
    ]);
    assert.equal(pushed.code, 0, pushed.stderr);
    assert.equal(JSON.parse(pushed.stdout).blobsPushed, LAYERS + 1);
    assert.deepEqual(
      ts.requests.slice(from).map((q) => [q.user, q.scopes.join(' ')]),
      [
        ['alice', 'repository:tools/fn:pull'],
        ['alice', 'repository:tools/copy:pull,push'],
      ],
    );
    const check = await new RegistryClient({ host: reg.host, credentials: alice }).getManifest(
      'tools/copy',
      'v1',
    );
    assert.equal(check.digest, img.manifest);
  });

  test('credentials from an existing ~/.docker/config.json (HOME) and from $DOCKER_CONFIG', async () => {
    const home = join(scratch, 'home');
    mkdirSync(join(home, '.docker'), { recursive: true });
    const auth = Buffer.from(`${alice.username}:${alice.password}`).toString('base64');
    writeFileSync(join(home, '.docker', 'config.json'), JSON.stringify({ auths: { [reg.host]: { auth } } }));
    process.env.HOME = home;
    delete process.env.DOCKER_CONFIG;
    const s = await startTestServer();
    servers.push(s);
    process.env.DOCKER_CONFIG = join(scratch, 'no-docker');
    const from = ts.requests.length;
    const pulled = await agni(s, ['image', 'pull', `${reg.host}/tools/fn:v1`, '--json']);
    assert.equal(pulled.code, 0, pulled.stderr);
    assert.deepEqual(
      ts.requests.slice(from).map((q) => [q.user, q.scopes.join(' ')]),
      [['alice', 'repository:tools/fn:pull']],
      'the token was asked for as alice, from ~/.docker/config.json',
    );

    // $DOCKER_CONFIG names the directory instead (username/password fields, no `auth`).
    const dir = join(scratch, 'docker-config');
    mkdirSync(dir, { recursive: true });
    writeFileSync(
      join(dir, 'config.json'),
      JSON.stringify({
        auths: { [`http://${reg.host}`]: { username: bob.username, password: bob.password } },
      }),
    );
    process.env.DOCKER_CONFIG = dir;
    const s2 = await startTestServer();
    servers.push(s2);
    process.env.DOCKER_CONFIG = join(scratch, 'no-docker');
    const mid = ts.requests.length;
    const r = await agni(s2, ['image', 'pull', `${reg.host}/tools/fn:v1`, '--json']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(ts.requests[mid]?.user, 'bob');
  });

  test('a token is renewed when it nears expiry, not reused past it', async () => {
    ts.options.expiresIn = 1;
    try {
      const client = new RegistryClient({ host: reg.host, credentials: alice });
      const scope = 'repository:tools/fn:pull';
      const from = ts.requests.length;
      await pullImage(client, freshStore(), ref('tools/fn:v1'));
      assert.equal(tokenCalls(scope, from).length, 1);
      await sleep(1100);
      await pullImage(client, freshStore(), ref('tools/fn:v1'));
      assert.equal(tokenCalls(scope, from).length, 2, 'the 1 s token was fetched again after it lapsed');
    } finally {
      delete ts.options.expiresIn;
    }
  });

  test('a token the registry refuses: a clear error, no loop; a held one is fetched again', async () => {
    const scope = 'repository:tools/fn:pull';
    const client = new RegistryClient({ host: reg.host, credentials: alice });
    ts.options.untrustedNext = 1;
    const from = ts.requests.length;
    try {
      await rejects(pullImage(client, freshStore(), ref('tools/fn:v1')), (e) => {
        assert.equal(e.code, 'unauthorized');
        assert.match(
          e.message,
          new RegExp(`${reg.host} refused the token from http://127\\.0\\.0\\.1:\\d+ as invalid`),
        );
        assert.match(e.hint ?? '', /does not trust its token service/);
      });
      assert.equal(
        tokenCalls(scope, from).length,
        1,
        'a token just fetched and refused is not fetched again',
      );
    } finally {
      ts.options.untrustedNext = 0;
    }
    // As after the registry's key rotated: the token the client holds is refused, so it gets a new one.
    const got = await pullImage(client, freshStore(), ref('tools/fn:v1'));
    assert.equal(got.manifestDigest, img.manifest);
    assert.equal(tokenCalls(scope, from).length, 2, 'the refused token, then one good one for all blobs');
  });
});
