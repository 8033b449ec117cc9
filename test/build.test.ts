/**
 * `agni build`, `agni push` and `agni deploy --build` through the real CLI and server against a
 * real docker-registry: reproducible digests, a multi-platform index pushed and pulled back into a
 * fresh server, skopeo reading what was pushed, built images run in runc, and the refusals.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import {
  cpSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promisify } from 'node:util';
import { gunzipSync } from 'node:zlib';
import type { BuildResult } from '../src/image/oci/build-service.js';
import { ContentStore, sha256Digest } from '../src/image/oci/content-store.js';
import { MT, parseManifest } from '../src/image/oci/media-types.js';
import { pushImage } from '../src/image/oci/push.js';
import { parseReference } from '../src/image/oci/reference.js';
import { RegistryClient } from '../src/image/oci/registry-client.js';
import { CLI } from './helpers/agni-up.js';
import { makeBusyboxRootfs } from './helpers/busybox-rootfs.js';
import { busyboxLayer, startRegistry, type TestRegistry } from './helpers/registry.js';
import { startTestServer, type TestServer } from './helpers/server.js';
import { tarOf } from './helpers/tarball.js';

const run = promisify(execFile);

/** what `agni build --json` prints: the server's answer, plus the push when --push */
type Built = BuildResult & { push?: { digest: string; blobsPushed: number } };

describe('agni build / push / deploy --build', () => {
  const scratch = mkdtempSync(join(tmpdir(), 'agni-build-'));
  let reg: TestRegistry;
  let s: TestServer;
  let layer: Buffer;
  let single: string;
  let multi: string;
  const servers: TestServer[] = [];

  const agni = async (args: string[], url = s.url, env: Record<string, string> = {}) => {
    try {
      const p = run('node', [CLI, ...args], {
        env: { ...process.env, AGNI_URL: url, SOURCE_DATE_EPOCH: '', ...env },
      });
      // An empty stdin: `agni invoke` would otherwise wait for a payload.
      p.child.stdin?.end();
      const r = await p;
      return { code: 0, stdout: r.stdout, stderr: r.stderr };
    } catch (e) {
      const x = e as { code: number; stdout: string; stderr: string };
      return { code: x.code, stdout: x.stdout, stderr: x.stderr };
    }
  };
  const ok = async (args: string[], url = s.url, env: Record<string, string> = {}) => {
    const r = await agni(args, url, env);
    assert.equal(r.code, 0, `agni ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  const built = async (args: string[], env: Record<string, string> = {}): Promise<Built> =>
    JSON.parse(await ok(['build', ...args, '--json'], s.url, env)) as Built;

  /** A busybox base pushed to `ref`; `diffIds: false` leaves rootfs.diff_ids empty, as some tools do. */
  async function pushBase(
    ref: string,
    entries: { arch: string; variant?: string; config: Record<string, unknown> }[],
    diffIds = true,
  ): Promise<void> {
    const store = new ContentStore(mkdtempSync(join(scratch, 'cs-')));
    const layerDigest = await store.putBytes(layer);
    const diffId = sha256Digest(gunzipSync(layer));
    const manifests = [];
    for (const e of entries) {
      const cfg = Buffer.from(
        JSON.stringify({
          architecture: e.arch,
          ...(e.variant ? { variant: e.variant } : {}),
          os: 'linux',
          config: e.config,
          rootfs: { type: 'layers', diff_ids: diffIds ? [diffId] : [] },
        }),
      );
      const configDigest = await store.putBytes(cfg);
      const m = Buffer.from(
        JSON.stringify({
          schemaVersion: 2,
          mediaType: MT.ociManifest,
          config: { mediaType: MT.ociConfig, digest: configDigest, size: cfg.length },
          layers: [{ mediaType: MT.ociLayerGzip, digest: layerDigest, size: layer.length }],
        }),
      );
      manifests.push({
        mediaType: MT.ociManifest,
        digest: await store.putBytes(m),
        size: m.length,
        platform: { os: 'linux', architecture: e.arch, ...(e.variant ? { variant: e.variant } : {}) },
      });
    }
    const top =
      manifests.length === 1
        ? manifests[0]!.digest
        : await store.putBytes(
            Buffer.from(JSON.stringify({ schemaVersion: 2, mediaType: MT.ociIndex, manifests })),
          );
    await pushImage(new RegistryClient({ host: reg.host }), store, top, parseReference(ref));
  }

  function fnDir(name: string, yaml: string, files: Record<string, string> = {}): string {
    const dir = join(scratch, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'agni.yaml'), yaml);
    for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text, { mode: 0o755 });
    return dir;
  }

  const registry = () => new RegistryClient({ host: reg.host });

  before(async () => {
    process.env.DOCKER_CONFIG = join(scratch, 'docker');
    layer = await busyboxLayer();
    reg = await startRegistry();
    single = `${reg.host}/base/busybox:1`;
    multi = `${reg.host}/base/multi:1`;
    const config = { Env: ['PATH=/bin'], Cmd: ['/bin/sh', '-c', 'echo "base cmd in $(pwd)"'] };
    await pushBase(single, [{ arch: 'amd64', config }]);
    // arm64 reuses the amd64 busybox layer: nothing runs it here, the manifests are what is tested.
    await pushBase(
      multi,
      [
        { arch: 'amd64', config },
        { arch: 'arm64', variant: 'v8', config },
      ],
      false,
    );
    s = await startTestServer();
    servers.push(s);
  });

  after(async () => {
    for (const x of servers) {
      await x.close();
      rmSync(x.home, { recursive: true, force: true });
    }
    await reg?.close();
    rmSync(scratch, { recursive: true, force: true });
  });

  test('the same directory builds to the same digest; one byte more, another', async () => {
    const yaml = `name: wc\nruntime: ${single}\ncommand: ["/bin/sh", "/fn/run.sh"]\nenv:\n  MODE: count\n`;
    const a = fnDir('wc-a', yaml, { 'run.sh': 'wc -w\n' });
    const b = join(scratch, 'wc-b');
    cpSync(a, b, { recursive: true });
    utimesSync(join(b, 'run.sh'), new Date('2020-01-01'), new Date('2020-01-01'));

    const one = await built([a]);
    const two = await built([b]);
    assert.equal(one.reference, 'agni.local/wc:latest');
    assert.equal(two.manifestDigest, one.manifestDigest);
    assert.equal(one.indexDigest, null);
    assert.deepEqual(one.platforms, ['linux/amd64']);
    assert.equal(one.layers, 2);

    // What the server stored: the base layer, then the function's; the config as agni.yaml says.
    const store = new ContentStore(s.home);
    const m = parseManifest(await store.read(one.manifestDigest), undefined, 'built');
    assert.equal(m.kind, 'manifest');
    if (m.kind !== 'manifest') return;
    assert.equal(m.manifest.layers[0]!.digest, sha256Digest(layer));
    assert.equal(m.manifest.layers[1]!.digest, one.layer.digest);
    const cfg = JSON.parse((await store.read(m.manifest.config.digest)).toString('utf8'));
    assert.equal(cfg.created, '1970-01-01T00:00:00Z');
    assert.equal(cfg.rootfs.diff_ids.length, 2);
    assert.equal(cfg.rootfs.diff_ids[1], one.layer.diffId);
    assert.deepEqual(cfg.config.Cmd, ['/bin/sh', '/fn/run.sh']);
    assert.deepEqual(cfg.config.Env, ['PATH=/bin', 'MODE=count']);
    assert.equal(cfg.config.WorkingDir, '/fn');
    assert.equal(cfg.config.Labels['org.opencontainers.image.title'], 'wc');
    assert.equal(cfg.history.at(-1).created_by, 'agni build');

    const ls = JSON.parse(await ok(['image', 'ls', '--json']));
    const rec = ls.find((i: { name: string; kind: string }) => i.name === 'agni.local/wc:latest');
    assert.equal(rec?.manifestDigest, one.manifestDigest);

    writeFileSync(join(b, 'run.sh'), 'wc -w \n');
    const three = await built([b]);
    assert.notEqual(three.manifestDigest, one.manifestDigest);
    assert.notEqual(three.layer.digest, one.layer.digest);
    assert.deepEqual(three.base.digests, one.base.digests);

    // SOURCE_DATE_EPOCH moves `created` and the layer's mtimes, reproducibly.
    const e1 = await built([a], { SOURCE_DATE_EPOCH: '1700000000' });
    const e2 = await built([a], { SOURCE_DATE_EPOCH: '1700000000' });
    assert.equal(e1.manifestDigest, e2.manifestDigest);
    assert.notEqual(e1.manifestDigest, one.manifestDigest);
    const ecfg = JSON.parse((await store.read(e1.configDigest)).toString('utf8'));
    assert.equal(ecfg.created, '2023-11-14T22:13:20Z');
  });

  test('multi-platform: an index built, pushed, read by skopeo, and pulled back into a fresh server', async () => {
    const dir = fnDir('mp', `name: mp\nruntime: ${multi}\ncommand: ["/bin/sh", "/fn/run.sh"]\n`, {
      'run.sh': 'echo "multi $(uname -m)"\n',
    });
    const target = `${reg.host}/team/mp:v1`;
    const r = await built([dir, '-t', target, '--platform', 'linux/amd64,linux/arm64', '--push']);
    assert.equal(r.reference, target);
    assert.ok(r.indexDigest);
    assert.deepEqual(r.platforms, ['linux/amd64', 'linux/arm64/v8']);
    assert.equal(r.manifestDigest, r.manifests[0]!.digest, "the record's manifest is the node's (amd64)");
    assert.equal(r.push?.digest, r.indexDigest);

    // Same build again: same index.
    const again = await built([dir, '-t', target, '--platform', 'linux/amd64,linux/arm64']);
    assert.equal(again.indexDigest, r.indexDigest);

    // The registry has the index under the tag, each child with its platform's config.
    const top = await registry().getManifest('team/mp', 'v1');
    assert.equal(top.digest, r.indexDigest);
    const idx = parseManifest(top.bytes, top.contentType, 'pushed');
    assert.equal(idx.kind, 'index');
    if (idx.kind !== 'index') return;
    assert.deepEqual(
      idx.index.manifests.map((m) => [m.digest, m.platform?.architecture]),
      [
        [r.manifests[0]!.digest, 'amd64'],
        [r.manifests[1]!.digest, 'arm64'],
      ],
    );

    // An independent client reads it: skopeo resolves the arm64 entry and its config.
    const sk = await run('skopeo', [
      'inspect',
      '--tls-verify=false',
      '--override-arch',
      'arm64',
      '--config',
      `docker://${target}`,
    ]);
    const skCfg = JSON.parse(sk.stdout);
    assert.equal(skCfg.architecture, 'arm64');
    assert.deepEqual(skCfg.config.Cmd, ['/bin/sh', '/fn/run.sh']);
    assert.equal(skCfg.rootfs.diff_ids.length, 2, 'diff_ids repaired for a base that listed none');
    // skopeo copy checks every blob against its digest on the way into an OCI layout.
    const layout = join(scratch, 'layout');
    await run('skopeo', [
      'copy',
      '--all',
      '--src-tls-verify=false',
      `docker://${target}`,
      `oci:${layout}:mp`,
    ]);

    // A fresh server pulls it back: same index, same per-platform manifests.
    const s2 = await startTestServer();
    servers.push(s2);
    const p = JSON.parse(await ok(['image', 'pull', target, '--json'], s2.url));
    assert.equal(p.indexDigest, r.indexDigest);
    assert.equal(p.manifestDigest, r.manifests[0]!.digest);
    const parm = JSON.parse(
      await ok(['image', 'pull', target, '--platform', 'linux/arm64', '--json'], s2.url),
    );
    assert.equal(parm.manifestDigest, r.manifests[1]!.digest);

    // …and runs it: the image's Cmd (from the build's agni.yaml) with no command in this one.
    const runDir = fnDir('mp-run', `name: mp-run\nruntime: ${target}\n`, {
      'run.sh': 'echo "multi $(uname -m)"\n',
    });
    await ok(['deploy', runDir], s2.url);
    assert.equal(await ok(['invoke', 'mp-run'], s2.url), 'multi x86_64\n');
  });

  test('agni push sends a built image to a registry, the index with its children', async () => {
    const dir = join(scratch, 'mp');
    const local = JSON.parse(
      await ok(['build', dir, '--platform', 'linux/arm64,linux/amd64', '--json']),
    ) as Built;
    assert.equal(local.reference, 'agni.local/mp:latest');
    assert.equal(local.manifestDigest, local.manifests[1]!.digest, 'the node runs amd64, listed second');
    const pushed = JSON.parse(await ok(['push', local.reference, `${reg.host}/team/mp:v2`, '--json']));
    assert.equal(pushed.digest, local.indexDigest);
    const top = await registry().getManifest('team/mp', 'v2');
    assert.equal(top.digest, local.indexDigest);
    for (const m of local.manifests) {
      assert.equal((await registry().getManifest('team/mp', m.digest)).digest, m.digest);
    }
  });

  test('a built image keeps absolute symlinks and leaves out what .agniignore names', async () => {
    const dir = fnDir(
      'links',
      `name: links\nruntime: ${single}\ncommand: ["/fn/sh", "-c", "ls -A /fn; readlink /fn/sh"]\n`,
      {
        '.agniignore': 'data/\n',
      },
    );
    symlinkSync('/bin/sh', join(dir, 'sh'));
    mkdirSync(join(dir, 'data'));
    writeFileSync(join(dir, 'data', 'big.csv'), 'x\n');
    mkdirSync(join(dir, '.git'));
    const d = await agni(['deploy', dir, '--build', '--json']);
    assert.equal(d.code, 0, d.stderr);
    assert.deepEqual(JSON.parse(d.stdout).build.skipped, ['.git/', 'data/']);
    assert.equal(await ok(['invoke', 'links']), '.agniignore\nagni.yaml\nsh\n/bin/sh\n');
  });

  test('an imported rootfs is a base like any image: build on it, deploy, invoke', async () => {
    const rootfs = makeBusyboxRootfs(join(scratch, 'importbox'));
    await ok(['image', 'import', 'localbox', rootfs]);
    const dir = fnDir('onlocal', 'name: onlocal\nruntime: localbox\ncommand: ["/bin/sh", "/fn/run.sh"]\n', {
      'run.sh': 'echo "built on $(ls /bin/busybox)"\n',
    });
    const d = await agni(['deploy', dir, '--build', '--json']);
    assert.equal(d.code, 0, d.stderr);
    const j = JSON.parse(d.stdout);
    assert.equal(j.build.base.reference, 'localbox');
    assert.equal(j.build.layers, 2, "the import's one layer and the function's");
    assert.equal(await ok(['invoke', 'onlocal']), 'built on /bin/busybox\n');
  });

  test('deploy --build: the image config runs, agni.yaml command or not', async () => {
    // No command anywhere but the base's Cmd: the built image inherits it.
    const inherit = fnDir('inherit', `name: inherit\nruntime: ${single}\n`);
    const d1 = await agni(['deploy', inherit, '--build', '--json']);
    assert.equal(d1.code, 0, d1.stderr);
    const j1 = JSON.parse(d1.stdout);
    assert.match(j1.runtime, /^agni\.local\/inherit:latest@sha256:[0-9a-f]{64}$/);
    assert.equal(j1.runtime, `agni.local/inherit:latest@${j1.build.manifestDigest}`);
    assert.equal(await ok(['invoke', 'inherit']), 'base cmd in /fn\n');

    // agni.yaml's command is the image's Cmd; pushed, and deployed by digest from the registry's name.
    const own = fnDir('own', `name: own\nruntime: ${single}\ncommand: ["/bin/sh", "/fn/run.sh"]\n`, {
      'run.sh': 'read x; echo "own got $x"\n',
    });
    const tag = `${reg.host}/team/own:v1`;
    const d2 = await agni(['deploy', own, '--build', '-t', tag, '--push', '--json']);
    assert.equal(d2.code, 0, d2.stderr);
    const j2 = JSON.parse(d2.stdout);
    assert.equal(j2.runtime, `${tag}@${j2.push.digest}`);
    assert.equal((await registry().getManifest('team/own', 'v1')).digest, j2.build.manifestDigest);
    const out = await run('bash', ['-c', `printf 'x\\n' | node ${CLI} invoke own`], {
      env: { ...process.env, AGNI_URL: s.url },
    });
    assert.equal(out.stdout, 'own got x\n');
    const fn = await (await fetch(`${s.url}/v1/functions/own`)).json();
    assert.ok(JSON.stringify(fn).includes(`oci:${j2.build.manifestDigest}`));

    const plain = await agni(['deploy', own, '--push']);
    assert.equal(plain.code, 64);
    assert.match(plain.stderr, /go with --build/);
  });

  test('secrets never enter a built image, and no answer shows them; the deploy still has the real ones', async () => {
    const secret = 'hunter2-webhook-secret-in-yaml';
    const envValue = 'env-value-that-is-a-token';
    const dir = fnDir(
      'secretive',
      `name: secretive\nruntime: ${single}\ncommand: ["/bin/cat"]\nenv: {API_TOKEN: ${envValue}}\n` +
        `triggers:\n  - webhook: /secretive\n    secret: ${secret}   # ${secret}\n`,
    );
    const d = await agni(['deploy', dir, '--build', '--json']);
    assert.equal(d.code, 0, d.stderr);
    assert.ok(!d.stdout.includes(secret) && !d.stdout.includes(envValue), d.stdout);
    const j = JSON.parse(d.stdout) as { build: Built };

    // Every blob of the content store, layers unzipped: the secret is in none, config included.
    const blobs: string[] = [];
    const walk = (p: string) => {
      for (const e of readdirSync(p, { withFileTypes: true }))
        e.isDirectory() ? walk(join(p, e.name)) : blobs.push(join(p, e.name));
    };
    walk(join(s.home, 'content'));
    assert.ok(
      blobs.some((b) => b.endsWith(j.build.layer.digest.slice(7))),
      'the function layer is there',
    );
    assert.ok(
      blobs.some((b) => b.endsWith(j.build.configDigest.slice(7))),
      'the config is there',
    );
    for (const b of blobs) {
      const raw = readFileSync(b);
      const plain = raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw) : raw;
      assert.ok(!plain.includes(secret), `${b} holds the webhook secret`);
    }
    // The image carries agni.yaml with the secret replaced.
    const layerTar = gunzipSync(readFileSync(blobs.find((b) => b.endsWith(j.build.layer.digest.slice(7)))!));
    assert.match(layerTar.toString('latin1'), /secret: REMOVED # removed by agni build/);

    // The deployed webhook takes the real secret, not the placeholder.
    const hook = (value: string) =>
      fetch(`${s.url}/hooks/secretive`, {
        method: 'POST',
        headers: { 'x-agni-secret': value },
        body: 'ping',
      });
    assert.equal((await hook('REMOVED')).status, 401);
    const good = await hook(secret);
    assert.equal(good.status, 200);
    assert.equal(await good.text(), 'ping');

    // Answers show env names, never values, nor the secret.
    for (const path of [
      '/v1/functions/secretive',
      '/v1/functions/secretive/versions',
      '/v1/functions',
      '/v1/triggers',
    ]) {
      const text = await (await fetch(`${s.url}${path}`)).text();
      assert.ok(!text.includes(secret) && !text.includes(envValue), `${path}: ${text}`);
    }
    const fn = (await (await fetch(`${s.url}/v1/functions/secretive`)).json()) as {
      manifest: { env: Record<string, string> };
    };
    assert.deepEqual(fn.manifest.env, { API_TOKEN: '***' });
    const ls = await ok(['versions', 'secretive', '--json']);
    assert.ok(!ls.includes(envValue) && ls.includes('API_TOKEN'), ls);
  });

  test('refusals: host, a local image, a missing base, bad platforms, a single-platform base', async () => {
    const host = fnDir('host', 'name: h\nruntime: host\ncommand: ["/bin/true"]\n');
    const h = await agni(['build', host]);
    assert.equal(h.code, 65);
    assert.match(h.stderr, /field `runtime`: `host` is not an image/);
    // The server refuses it too (for API callers).
    const api = await fetch(`${s.url}/v1/oci/build`, {
      method: 'POST',
      headers: { 'content-type': 'application/gzip' },
      body: new Uint8Array(await tarOf(host)),
    });
    assert.equal(api.status, 400);
    assert.match(((await api.json()) as { error: { message: string } }).error.message, /runtime/);

    // A root filesystem imported before images were OCI images has no config to build on.
    const rootfs = makeBusyboxRootfs(join(scratch, 'rootfs'));
    await s.store.putImage({
      id: 'img-oldbox',
      name: 'oldbox',
      rootfs,
      sizeBytes: 1,
      files: 400,
      source: rootfs,
      createdAt: Date.now(),
    });
    const loc = await agni(['build', fnDir('loc', 'name: loc\nruntime: oldbox\ncommand: ["/bin/true"]\n')]);
    assert.equal(loc.code, 65);
    assert.match(
      loc.stderr,
      /field `runtime`: "oldbox" is a root filesystem imported before images were OCI images/,
    );

    const missing = await agni(['build', fnDir('miss', `name: miss\nruntime: ${reg.host}/base/absent:1\n`)]);
    assert.equal(missing.code, 66, missing.stderr);
    assert.match(missing.stderr, /field `runtime`: base image .*absent:1/);

    const dir = join(scratch, 'wc-a');
    const badCli = await agni(['build', dir, '--platform', 'linux']);
    assert.equal(badCli.code, 64);
    assert.match(badCli.stderr, /--platform "linux"/);
    const badApi = await fetch(`${s.url}/v1/oci/build?platform=linux/amd64,windows`, {
      method: 'POST',
      headers: { 'content-type': 'application/gzip' },
      body: new Uint8Array(await tarOf(dir)),
    });
    assert.equal(badApi.status, 400);
    assert.match(
      ((await badApi.json()) as { error: { message: string } }).error.message,
      /--platform: "windows"/,
    );

    const arm = await agni(['build', dir, '--platform', 'linux/amd64,linux/arm64']);
    assert.equal(arm.code, 65, arm.stderr);
    assert.match(arm.stderr, /single-platform linux\/amd64 image; linux\/arm64/);

    const noPushTag = await agni(['build', dir, '--push']);
    assert.equal(noPushTag.code, 64);
    assert.match(noPushTag.stderr, /--push needs -t REF/);

    // Nothing was left in the build staging area.
    assert.deepEqual(readdirSync(join(s.home, 'build')), []);
  });
});
