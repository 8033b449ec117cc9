import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type BaseImage,
  type BuildSpec,
  buildIndex,
  buildManifest,
  createdAt,
  type FunctionSpec,
  imageConfig,
  type LayerBlob,
  mergeEnv,
  processConfig,
} from './build.js';
import { sha256Digest } from './content-store.js';
import { MT, parseManifest } from './media-types.js';

const d = (c: string) => `sha256:${c.repeat(64)}`;

function base(over: Partial<BaseImage> = {}, config: Record<string, unknown> = {}): BaseImage {
  return {
    digest: d('b'),
    manifest: {
      schemaVersion: 2,
      mediaType: MT.dockerManifest,
      config: { mediaType: MT.dockerConfig, digest: d('c'), size: 100 },
      layers: [{ mediaType: MT.dockerLayerGzip, digest: d('1'), size: 1000 }],
    },
    config: {
      architecture: 'amd64',
      os: 'linux',
      created: '2024-01-01T00:00:00Z',
      config: { Cmd: ['/bin/sh'], Env: ['PATH=/usr/bin:/bin', 'LANG=C'], WorkingDir: '' },
      rootfs: { type: 'layers', diff_ids: [d('a')] },
      history: [{ created: '2024-01-01T00:00:00Z', created_by: 'ADD rootfs /' }],
      ...config,
    },
    diffIds: [d('a')],
    platform: { os: 'linux', architecture: 'amd64' },
    ...over,
  };
}

const layer: LayerBlob = { digest: d('f'), size: 321, diffId: d('e'), mediaType: MT.ociLayerGzip };

function fn(over: Partial<FunctionSpec> = {}): FunctionSpec {
  return { name: 'wc', command: [], env: {}, ...over };
}

const spec = (f: FunctionSpec = fn()): BuildSpec => ({
  fn: f,
  baseName: 'docker.io/library/busybox:1',
  created: createdAt(new Date(0)),
});

test('createdAt: RFC 3339 without milliseconds', () => {
  assert.equal(createdAt(new Date(0)), '1970-01-01T00:00:00Z');
  assert.equal(createdAt(new Date(1700000000 * 1000)), '2023-11-14T22:13:20Z');
});

test('process config: agni.yaml overrides the base as a deploy would', () => {
  const b = { Entrypoint: ['/init'], Cmd: ['serve'], Env: ['A=1', 'B=2'], WorkingDir: '/app', User: '10' };
  assert.deepEqual(processConfig(b, fn()), {
    ...b,
    Labels: { 'org.opencontainers.image.title': 'wc' },
  });
  const cmd = processConfig(b, fn({ command: ['/fn/run'] }));
  assert.deepEqual([cmd.Entrypoint, cmd.Cmd], [['/init'], ['/fn/run']]);
  // A new entrypoint drops the base's Cmd unless command is given, as a Dockerfile ENTRYPOINT does.
  const ep = processConfig(b, fn({ entrypoint: ['/fn/main'] }));
  assert.deepEqual(ep.Entrypoint, ['/fn/main']);
  assert.equal('Cmd' in ep, false);
  const both = processConfig(b, fn({ entrypoint: ['/fn/main'], command: ['-v'] }));
  assert.deepEqual([both.Entrypoint, both.Cmd], [['/fn/main'], ['-v']]);
  const rest = processConfig(
    b,
    fn({ env: { B: 'x', C: 'y' }, workdir: '/fn/sub', user: '1000:1000', description: 'counts' }),
  );
  assert.deepEqual(rest.Env, ['A=1', 'B=x', 'C=y']);
  assert.equal(rest.WorkingDir, '/fn/sub');
  assert.equal(rest.User, '1000:1000');
  assert.deepEqual(rest.Labels, {
    'org.opencontainers.image.title': 'wc',
    'org.opencontainers.image.description': 'counts',
  });
  // WorkingDir: agni.yaml, else the base's, else /fn
  assert.equal(processConfig({}, fn()).WorkingDir, '/fn');
  assert.equal(processConfig({ WorkingDir: '' }, fn()).WorkingDir, '/fn');
  // Base labels are kept; the title is the function's.
  const lab = processConfig({ Labels: { a: 'b', 'org.opencontainers.image.title': 'base' } }, fn());
  assert.deepEqual(lab.Labels, { a: 'b', 'org.opencontainers.image.title': 'wc' });
});

test('mergeEnv replaces in place and appends', () => {
  assert.deepEqual(mergeEnv(['PATH=/bin', 'X=1', 'FLAG'], { X: '2', FLAG: 'on', NEW: 'v' }), [
    'PATH=/bin',
    'X=2',
    'FLAG=on',
    'NEW=v',
  ]);
});

test('image config: base kept, layer diff_id and history appended, created fixed', () => {
  const c = imageConfig(base(), layer, spec()) as Record<string, unknown> & {
    rootfs: { diff_ids: string[] };
    history: { created_by?: string; created?: string }[];
    config: Record<string, unknown>;
  };
  assert.equal(c.created, '1970-01-01T00:00:00Z');
  assert.equal(c.architecture, 'amd64');
  assert.deepEqual(c.rootfs, { type: 'layers', diff_ids: [d('a'), d('e')] });
  assert.equal(c.history.length, 2);
  assert.deepEqual(c.history[1], {
    created: '1970-01-01T00:00:00Z',
    created_by: 'agni build',
    comment: 'function wc',
  });
  assert.deepEqual(c.config.Cmd, ['/bin/sh']);
  assert.equal(c.config.WorkingDir, '/fn');
  // A base without history gets one entry per layer, so history and diff_ids still line up.
  const nh = imageConfig(base({}, { history: undefined }), layer, spec()) as { history: unknown[] };
  assert.equal(nh.history.length, 2);
  // The variant comes from the index entry when the config has none.
  const arm = imageConfig(
    base({ platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } }, { architecture: 'arm64' }),
    layer,
    spec(),
  );
  assert.equal(arm.variant, 'v8');
});

test('manifest: OCI types, base layers then the function layer, annotations; reproducible', () => {
  const m = buildManifest(base(), layer, spec(fn({ command: ['/fn/run'] })));
  const parsed = parseManifest(m.manifest, undefined, 'built');
  assert.equal(parsed.kind, 'manifest');
  if (parsed.kind !== 'manifest') return;
  assert.equal(parsed.manifest.mediaType, MT.ociManifest);
  assert.deepEqual(parsed.manifest.config, {
    mediaType: MT.ociConfig,
    digest: m.configDigest,
    size: m.config.length,
  });
  assert.deepEqual(
    parsed.manifest.layers.map((l) => [l.mediaType, l.digest, l.size]),
    [
      [MT.ociLayerGzip, d('1'), 1000],
      [MT.ociLayerGzip, d('f'), 321],
    ],
  );
  const raw = JSON.parse(m.manifest.toString('utf8'));
  assert.deepEqual(raw.annotations, {
    'org.opencontainers.image.base.name': 'docker.io/library/busybox:1',
    'org.opencontainers.image.base.digest': d('b'),
  });
  assert.equal(m.manifestDigest, sha256Digest(m.manifest));
  assert.equal(m.configDigest, sha256Digest(m.config));
  assert.equal(m.sizeBytes, m.config.length + 1000 + 321);

  const again = buildManifest(base(), layer, spec(fn({ command: ['/fn/run'] })));
  assert.equal(again.manifestDigest, m.manifestDigest);
  const otherLayer = buildManifest(base(), { ...layer, digest: d('9') }, spec(fn({ command: ['/fn/run'] })));
  assert.notEqual(otherLayer.manifestDigest, m.manifestDigest);
  const otherCmd = buildManifest(base(), layer, spec(fn({ command: ['/fn/other'] })));
  assert.notEqual(otherCmd.configDigest, m.configDigest);
  const later = buildManifest(base(), layer, {
    ...spec(fn({ command: ['/fn/run'] })),
    created: '2001-01-01T00:00:00Z',
  });
  assert.notEqual(later.manifestDigest, m.manifestDigest);

  assert.throws(() => buildManifest(base({ diffIds: [] }), layer, spec()), /0 diff_ids for 1 layers/);
});

test('index: one entry per platform, in the order given', () => {
  const amd = buildManifest(base(), layer, spec());
  const arm = buildManifest(
    base(
      { digest: d('d'), platform: { os: 'linux', architecture: 'arm64', variant: 'v8' } },
      { architecture: 'arm64' },
    ),
    layer,
    spec(),
  );
  const idx = buildIndex([amd, arm]);
  const p = parseManifest(idx.bytes, undefined, 'index');
  assert.equal(p.kind, 'index');
  if (p.kind !== 'index') return;
  assert.equal(p.index.mediaType, MT.ociIndex);
  assert.deepEqual(
    p.index.manifests.map((m) => [m.digest, m.size, m.platform]),
    [
      [amd.manifestDigest, amd.manifest.length, { architecture: 'amd64', os: 'linux' }],
      [arm.manifestDigest, arm.manifest.length, { architecture: 'arm64', os: 'linux', variant: 'v8' }],
    ],
  );
  assert.equal(idx.digest, sha256Digest(idx.bytes));
  assert.notEqual(buildIndex([arm, amd]).digest, idx.digest);
});
