/**
 * Cluster mode's code distribution against a real registry: the server side deploys through a
 * Deployer with a RegistryCodePublisher, an agent in another home (nothing shared but the registry)
 * makes the version local with a CodeFetcher and runs it on a real Agent and backend.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { after, before, test } from 'node:test';
import pino from 'pino';
import { Agent } from '../src/agent/agent.js';
import { CodeFetcher } from '../src/agent/code-fetcher.js';
import { NodeImageSource } from '../src/agent/image-source.js';
import { RegistryCodePublisher } from '../src/app/code-publisher.js';
import { Deployer } from '../src/app/deployer.js';
import { OciRuntime } from '../src/app/oci-runtime.js';
import type { AgniError } from '../src/core/errors.js';
import { dispatchRequest } from '../src/dispatch/dispatch-request.js';
import { LocalImages } from '../src/image/local-images.js';
import { ContentStore } from '../src/image/oci/content-store.js';
import { ImageRootfsResolver } from '../src/image/oci/image-rootfs.js';
import type { Platform } from '../src/image/oci/media-types.js';
import { nodePlatforms } from '../src/image/oci/node-platforms.js';
import { OciImages } from '../src/image/oci/pull-service.js';
import { pushImage } from '../src/image/oci/push.js';
import { parseReference } from '../src/image/oci/reference.js';
import { RegistryClient } from '../src/image/oci/registry-client.js';
import type { Backend } from '../src/sandbox/backend.js';
import { createBackend } from '../src/sandbox/select.js';
import { SqlOciImageRepository } from '../src/store/oci-image-repo.js';
import { openStore } from '../src/store/open.js';
import type { VersionRecord } from '../src/store/store.js';
import { arm64BusyboxLayer, arm64EmulationProblem } from './helpers/arm64-busybox.js';
import { makeBusyboxRootfs } from './helpers/busybox-rootfs.js';
import {
  busyboxLayer,
  startRegistry,
  storeImage,
  storeIndex,
  type TestRegistry,
} from './helpers/registry.js';
import { fnDir, tarOf } from './helpers/tarball.js';
import { tempDir } from './helpers/tmp.js';

const logger = pino({ level: 'silent' });
const platforms = nodePlatforms();
const tmp = (what: string) => tempDir(`agni-${what}-`);

let registry: TestRegistry;
let store: Awaited<ReturnType<typeof openStore>>;
let deployer: Deployer;
let images: LocalImages;
let oci: OciImages;
let publisher: RegistryCodePublisher;
let serverHome: string;
const backends: Backend[] = [];

before(async () => {
  registry = await startRegistry();
  serverHome = tmp('server');
  store = await openStore(join(serverHome, 'agni.db'));
  oci = new OciImages(serverHome, new SqlOciImageRepository(store.db));
  const rootfs = new ImageRootfsResolver(serverHome, oci.content);
  images = new LocalImages(store, serverHome, undefined, oci);
  publisher = new RegistryCodePublisher({ registry: registry.host, oci, home: serverHome, logger });
  deployer = new Deployer(store, serverHome, undefined, undefined, new OciRuntime(oci, rootfs, platforms), {
    publisher,
  });
});

after(async () => {
  for (const b of backends) await b.shutdown();
  await store?.close();
  await registry?.close().catch(() => undefined);
});

/** an agent in its own home: its content store, fetcher, backend and Agent */
async function agentNode(name: string, o: { registry?: string; platforms?: Platform[] } = {}) {
  const home = tmp(`agent-${name}`);
  const content = new ContentStore(home);
  const runs = o.platforms ?? platforms;
  const fetcher = new CodeFetcher({ home, content, platforms: runs, logger, registry: o.registry });
  const backend = await createBackend('auto', home);
  backends.push(backend);
  const source = new NodeImageSource(undefined, new ImageRootfsResolver(home, content), runs, name);
  const agent = new Agent(backend, (id, what) => source.resolve(id, what), {
    node: name,
    platforms: runs,
    slots: 2,
  });
  return { home, content, fetcher, agent, backend };
}

let seq = 0;
async function run(agent: Agent, fetcher: CodeFetcher, v: VersionRecord): Promise<string> {
  const payload = Buffer.alloc(0);
  const req = await fetcher.prepare(dispatchRequest({ invocationId: `inv-${seq++}`, version: v, payload }));
  let out = '';
  let err = '';
  const r = await agent.run(req, {
    payload,
    io: { onStdout: (c) => (out += String(c)), onStderr: (c) => (err += String(c)) },
    hooks: {},
  });
  assert.equal(r.outcome, 'ok', `stderr: ${err}`);
  return out;
}

const deploy = async (dir: string) => deployer.deploy(Readable.from(await tarOf(dir)));

test('a deploy publishes its /fn tree by digest: the same code twice gives the same digest, and it pulls elsewhere', async () => {
  const dir = fnDir({
    'agni.yaml': 'name: hello\nruntime: host\ncommand: [/bin/sh, /fn/run.sh]\n',
    'run.sh': 'echo "hello from $(cat /fn/data.txt)"\n',
    'data.txt': 'the registry',
  });
  const v1 = await deploy(dir);
  const v2 = await deploy(dir);
  assert.match(v1.code?.ref ?? '', new RegExp(`^${registry.host}/agni/fn/hello@sha256:[0-9a-f]{64}$`));
  assert.equal(v2.version, 2);
  assert.equal(v2.code?.ref, v1.code?.ref, 'the same files give the same digest');
  assert.equal(v1.code?.image, undefined, 'runtime: host has no image to publish');
  assert.deepEqual((await store.getVersion('hello', 1))?.code, v1.code);
  // The tag names the version for people; the record pins the digest.
  const tagged = await fetch(`http://${registry.host}/v2/agni/fn/hello/manifests/v2`, {
    headers: { accept: 'application/vnd.oci.image.manifest.v1+json' },
  });
  assert.equal(tagged.status, 200);
  assert.equal(tagged.headers.get('docker-content-digest'), v1.code?.ref.split('@')[1]);
  // Another home pulls it like any image.
  const other = tmp('puller');
  const otherStore = await openStore(join(other, 'agni.db'));
  try {
    const rec = await new OciImages(other, new SqlOciImageRepository(otherStore.db)).pull(v1.code!.ref);
    assert.equal(rec.manifestDigest, v1.code?.ref.split('@')[1]);
    assert.equal(rec.layers.length, 1);
  } finally {
    await otherStore.close();
  }
  // Different code, different digest.
  const v3 = await deploy(
    fnDir({
      'agni.yaml': 'name: hello\nruntime: host\ncommand: [/bin/sh, /fn/run.sh]\n',
      'run.sh': 'echo changed\n',
    }),
  );
  assert.notEqual(v3.code?.ref, v1.code?.ref);
});

test('a root filesystem imported before images were OCI is refused in cluster mode, asking for a new import', async () => {
  const rootfs = makeBusyboxRootfs(join(serverHome, 'images', 'img-old', 'rootfs'));
  const now = Date.now();
  await store.putImage({
    id: 'img-old',
    name: 'oldbox',
    rootfs,
    sizeBytes: 1,
    files: 400,
    source: rootfs,
    createdAt: now,
  });
  await assert.rejects(
    deploy(fnDir({ 'agni.yaml': 'name: onold\nruntime: oldbox\ncommand: [/bin/true]\n' })),
    (e: AgniError) => {
      assert.equal(e.code, 'manifest_invalid');
      assert.match(e.message, /\(img-old\) is a root filesystem imported before images were OCI images/);
      assert.match(e.hint ?? '', /agni image import NAME ROOTFS/);
      return true;
    },
  );
  assert.equal(await store.getFunction('onold'), undefined);
  const tags = await fetch(`http://${registry.host}/v2/agni/fn/onold/tags/list`);
  assert.equal(tags.status, 404, 'nothing was pushed for it');
});

test('an import records the platform given, and refuses a bad one naming --platform, leaving nothing', async () => {
  const root = makeBusyboxRootfs(tmp('armfs'));
  const img = await images.import('armbox', Readable.from(await tarOf(root)), root, {
    platform: 'linux/arm64/v8',
  });
  assert.equal((await oci.repo.get('armbox'))?.platform, 'linux/arm64/v8');
  assert.equal(`oci:${(await oci.repo.get('armbox'))?.manifestDigest}`, img.id);
  const before = readdirSync(join(serverHome, 'build'));
  await assert.rejects(
    images.import('badplat', Readable.from(await tarOf(root)), root, { platform: 'arm64' }),
    /--platform "arm64": expected os\/arch/,
  );
  assert.equal(await oci.repo.get('badplat'), undefined);
  assert.deepEqual(readdirSync(join(serverHome, 'build')), before);
});

test('an imported rootfs is an OCI image: pushed, pulled by digest into a fresh agent home, and run there', async (t) => {
  // This node reaches the registry under another name than the server recorded (as across networks).
  const node = await agentNode('c', { registry: registry.host.replace('127.0.0.1', 'localhost') });
  if (!node.backend.isolated) return t.skip('runc is not available: an image needs an isolated backend');
  const root = makeBusyboxRootfs(tmp('rootfs'));
  const img = await images.import('bbox', Readable.from(await tarOf(root)), root);
  assert.match(img.id, /^oci:sha256:[0-9a-f]{64}$/);
  // Pushed like any image.
  const pushed = await oci.push('bbox', `${registry.host}/team/bbox:1`);
  assert.equal(`oci:${pushed.digest}`, img.id);

  const v = await deploy(
    fnDir({
      'agni.yaml':
        'name: onbox\nruntime: bbox\ncommand: [/bin/sh, -c, "echo on $(cat /fn/what.txt); ls /bin/busybox"]\n',
      'what.txt': 'busybox',
    }),
  );
  assert.equal(v.imageId, img.id);
  assert.match(v.code?.image ?? '', new RegExp(`^${registry.host}/agni/images@${img.id.slice(4)}$`));
  const prepared = await node.fetcher.prepare(
    dispatchRequest({ invocationId: 'img', version: v, payload: Buffer.alloc(0) }),
  );
  assert.equal(prepared.version.imageId, img.id, 'the same manifest: one platform');
  assert.ok(await node.content.has(img.id.slice(4)), "the image is in the agent's content store");
  assert.equal(await run(node.agent, node.fetcher, v), 'on busybox\n/bin/busybox\n');
});

test('an image imported on one server deploys through another sharing the store: fetched by digest', async () => {
  // Server A imports (sharing the image through the registry); server B has the record, not the blobs.
  const sharing = new LocalImages(store, serverHome, undefined, oci, platforms[0], (d, what) =>
    publisher.shareImage(d, what),
  );
  const root = makeBusyboxRootfs(tmp('shared-rootfs'));
  const img = await sharing.import('sharedbox', Readable.from(await tarOf(root)), root);
  const unshared = await images.import('lonebox', Readable.from(await tarOf(root)), root, {
    platform: 'linux/riscv64',
  });
  const homeB = tmp('server-b');
  const ociB = new OciImages(homeB, new SqlOciImageRepository(store.db));
  const publisherB = new RegistryCodePublisher({ registry: registry.host, oci: ociB, home: homeB, logger });
  const runtimeB = new OciRuntime(
    ociB,
    new ImageRootfsResolver(homeB, ociB.content),
    platforms,
    undefined,
    (d, what) => publisherB.fetchImage(d, what),
  );
  const deployerB = new Deployer(store, homeB, undefined, undefined, runtimeB, { publisher: publisherB });
  const v = await deployerB.deploy(
    Readable.from(
      await tarOf(fnDir({ 'agni.yaml': 'name: onshared\nruntime: sharedbox\ncommand: [/bin/true]\n' })),
    ),
  );
  assert.equal(v.imageId, img.id);
  assert.ok(await ociB.content.has(img.id.slice(4)), "the image is now in B's content store");
  // Never shared: B says where it looked.
  await assert.rejects(
    deployerB.deploy(
      Readable.from(
        await tarOf(fnDir({ 'agni.yaml': 'name: onlone\nruntime: lonebox\ncommand: [/bin/true]\n' })),
      ),
    ),
    (e: Error) =>
      e.message.includes(
        `image lonebox: not on this server, and fetching ${registry.host}/agni/images@${unshared.id.slice(4)} failed`,
      ),
  );
});

test('a multi-platform image goes to the registry as its index: each agent runs its own platform', async (t) => {
  const problem = arm64EmulationProblem();
  if (problem || process.arch !== 'x64')
    return t.skip(`needs an x86_64 host with arm64 emulation: ${problem}`);
  const src = new ContentStore(tmp('multi-src'));
  const amd = await storeImage(src, await busyboxLayer(), 'amd64');
  const arm = await storeImage(src, await arm64BusyboxLayer(), 'arm64', 'v8');
  const index = await storeIndex(src, [
    { image: amd, arch: 'amd64' },
    { image: arm, arch: 'arm64', variant: 'v8' },
  ]);
  const ref = `${registry.host}/tools/multi:1`;
  await pushImage(new RegistryClient({ host: registry.host }), src, index, parseReference(ref));
  // The server holds both platforms (pulled the other one, then its own, as a multi-platform build leaves them).
  await oci.pull(ref, { platform: 'linux/arm64/v8' });
  await oci.pull(ref, { platform: 'linux/amd64' });
  const v = await deploy(fnDir({ 'agni.yaml': `name: multi\nruntime: ${ref}\ncommand: [/bin/uname, -m]\n` }));
  assert.equal(v.imageId, `oci:${amd.manifestDigest}`, "the server's own platform");
  assert.equal(v.code?.image, `${registry.host}/agni/images@${index}`);

  const armNode = await agentNode('arm', {
    platforms: [{ os: 'linux', architecture: 'arm64', variant: 'v8' }],
  });
  if (!armNode.backend.isolated) return t.skip('runc is not available');
  const onArm = await armNode.fetcher.prepare(
    dispatchRequest({ invocationId: 'a', version: v, payload: Buffer.alloc(0) }),
  );
  assert.equal(onArm.version.imageId, `oci:${arm.manifestDigest}`);
  assert.ok(!(await armNode.content.has(amd.layerDigest)), 'the other platform is never fetched');
  assert.equal(await run(armNode.agent, armNode.fetcher, v), 'aarch64\n');
  const amdNode = await agentNode('amd', { platforms: [{ os: 'linux', architecture: 'amd64' }] });
  assert.equal(await run(amdNode.agent, amdNode.fetcher, v), 'x86_64\n');
});

test('an agent in a fresh home fetches the code by digest and runs it; the next calls need no registry', async () => {
  const dir = fnDir({
    'agni.yaml': 'name: fetched\nruntime: host\ncommand: [/bin/sh, /fn/run.sh]\n',
    'run.sh': 'echo "ran $(cat /fn/data.txt)"\n',
    'data.txt': 'fetched code',
  });
  const v = await deploy(dir);
  const node = await agentNode('b');
  // Concurrent first calls share one fetch and one unpack.
  const outs = await Promise.all([1, 2, 3].map(() => run(node.agent, node.fetcher, v)));
  assert.deepEqual(outs, ['ran fetched code\n', 'ran fetched code\n', 'ran fetched code\n']);
  const prepared = await node.fetcher.prepare(
    dispatchRequest({ invocationId: 'p', version: v, payload: Buffer.alloc(0) }),
  );
  assert.ok(prepared.version.codeDir.startsWith(node.home), prepared.version.codeDir);
  assert.notEqual(prepared.version.codeDir, v.codeDir);

  // A tampered digest (nothing under it) fails naming the reference.
  const bad = `${registry.host}/agni/fn/fetched@sha256:${'0'.repeat(64)}`;
  await assert.rejects(
    node.fetcher.prepare(
      dispatchRequest({
        invocationId: 'bad',
        version: { ...v, code: { ref: bad } },
        payload: Buffer.alloc(0),
      }),
    ),
    (e: Error) => e.message.includes(bad),
  );
  // A reference without a digest is refused before any request.
  await assert.rejects(
    node.fetcher.prepare(
      dispatchRequest({
        invocationId: 'tag',
        version: { ...v, code: { ref: `${registry.host}/agni/fn/fetched:v1` } },
        payload: Buffer.alloc(0),
      }),
    ),
    /not pinned by digest/,
  );

  // With the registry gone, this fetcher and a new one over the same home (a restarted agent) still run it.
  await registry.close();
  assert.equal(await run(node.agent, node.fetcher, v), 'ran fetched code\n');
  const restarted = new CodeFetcher({ home: node.home, content: node.content, platforms, logger });
  assert.equal(await run(node.agent, restarted, v), 'ran fetched code\n');

  // A deploy while the registry is down fails naming it, and leaves no version and no code dir.
  const before = await store.listVersions('fetched');
  const codeDirs = readdirSync(join(serverHome, 'functions', 'fetched')).sort();
  await assert.rejects(deploy(dir), (e: Error) => {
    assert.match(
      e.message,
      new RegExp(`could not push the code of fetched to ${registry.host}/agni/fn/fetched@sha256:`),
    );
    return true;
  });
  assert.deepEqual(await store.listVersions('fetched'), before);
  assert.deepEqual(readdirSync(join(serverHome, 'functions', 'fetched')).sort(), codeDirs);
});
