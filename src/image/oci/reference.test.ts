import assert from 'node:assert/strict';
import { test } from 'node:test';
import { isAgniError } from '../../core/errors.js';
import { parseChallenge } from './auth.js';
import { parseManifest } from './media-types.js';
import { hostPlatform, parsePlatform, selectManifest } from './platform.js';
import { apiHost, isLoopbackHost, parseReference } from './reference.js';

const D = `sha256:${'a'.repeat(64)}`;

test('references parse the way Docker does', () => {
  assert.deepEqual(parseReference('busybox'), {
    registry: 'docker.io',
    repository: 'library/busybox',
    tag: 'latest',
    digest: undefined,
  });
  assert.deepEqual(parseReference('library/busybox:1.36'), {
    registry: 'docker.io',
    repository: 'library/busybox',
    tag: '1.36',
    digest: undefined,
  });
  assert.deepEqual(parseReference('127.0.0.1:5000/team/fn:v1'), {
    registry: '127.0.0.1:5000',
    repository: 'team/fn',
    tag: 'v1',
    digest: undefined,
  });
  assert.deepEqual(parseReference(`ghcr.io/o/r@${D}`), {
    registry: 'ghcr.io',
    repository: 'o/r',
    tag: undefined,
    digest: D,
  });
  assert.deepEqual(parseReference(`name:tag@${D}`), {
    registry: 'docker.io',
    repository: 'library/name',
    tag: 'tag',
    digest: D,
  });
  assert.equal(parseReference('localhost/x').registry, 'localhost');
  assert.equal(parseReference('localhost:5000/x').repository, 'x');
  assert.equal(parseReference('me/app').repository, 'me/app');
  assert.equal(apiHost(parseReference('busybox')), 'registry-1.docker.io');
  assert.equal(parseReference('index.docker.io/library/alpine').registry, 'docker.io');
});

test('bad references name themselves and the part that is wrong', () => {
  for (const [ref, why] of [
    ['', /empty/],
    ['Busybox', /component "Busybox"/],
    ['a/b:bad tag', /tag "bad tag"/],
    ['a@sha256:123', /digest "sha256:123"/],
    ['a//b', /component ""/],
    [':v1', /no repository/],
  ] as const) {
    assert.throws(
      () => parseReference(ref),
      (e: unknown) =>
        isAgniError(e) && e.code === 'bad_request' && e.message.includes(`"${ref}"`) && why.test(e.message),
    );
  }
});

test('loopback hosts use http', () => {
  assert.ok(isLoopbackHost('127.0.0.1:5000'));
  assert.ok(isLoopbackHost('localhost'));
  assert.ok(isLoopbackHost('[::1]:5000'));
  assert.ok(!isLoopbackHost('ghcr.io'));
  assert.ok(!isLoopbackHost('10.0.0.1:5000'));
});

test('platforms map from Node and select from an index', () => {
  assert.deepEqual(hostPlatform('x64'), { os: 'linux', architecture: 'amd64' });
  assert.deepEqual(hostPlatform('arm64'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
  assert.deepEqual(hostPlatform('arm', '7'), { os: 'linux', architecture: 'arm', variant: 'v7' });
  assert.throws(() => parsePlatform('amd64'), /--platform "amd64"/);
  const m = (architecture: string, variant?: string) => ({
    mediaType: 'x',
    digest: `sha256:${architecture
      .padEnd(64, '0')
      .slice(0, 64)
      .replace(/[^a-f0-9]/g, '0')}`,
    size: 1,
    platform: { os: 'linux', architecture, ...(variant ? { variant } : {}) },
  });
  const list = [m('amd64'), m('arm64', 'v8'), m('arm', 'v6'), m('arm', 'v7')];
  assert.equal(selectManifest(list, parsePlatform('linux/arm64'), 'r'), list[1]);
  assert.equal(selectManifest(list, parsePlatform('linux/arm/v7'), 'r'), list[3]);
  assert.throws(
    () => selectManifest(list, parsePlatform('linux/riscv64'), 'img'),
    (e: unknown) =>
      isAgniError(e) &&
      /linux\/riscv64/.test(e.message) &&
      e.hint!.includes('linux/amd64, linux/arm64/v8, linux/arm/v6, linux/arm/v7'),
  );
});

test('WWW-Authenticate challenges parse', () => {
  assert.deepEqual(
    parseChallenge(
      'Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull"',
    ),
    {
      scheme: 'bearer',
      params: {
        realm: 'https://auth.docker.io/token',
        service: 'registry.docker.io',
        scope: 'repository:library/busybox:pull',
      },
    },
  );
  assert.deepEqual(parseChallenge('Basic realm="agni-test"'), {
    scheme: 'basic',
    params: { realm: 'agni-test' },
  });
  assert.equal(parseChallenge('Negotiate abc'), undefined);
  assert.equal(parseChallenge(undefined), undefined);
});

test('manifests: unknown media types and bad fields are clear errors', () => {
  const j = (o: object) => Buffer.from(JSON.stringify(o));
  assert.throws(
    () => parseManifest(j({ schemaVersion: 2, mediaType: 'application/x-what' }), undefined, 'm'),
    /unsupported manifest media type "application\/x-what"/,
  );
  assert.throws(() => parseManifest(Buffer.from('{'), undefined, 'm'), /m: not valid JSON/);
  const cfg = { mediaType: 'application/vnd.oci.image.config.v1+json', digest: D, size: 2 };
  assert.throws(
    () =>
      parseManifest(
        j({
          schemaVersion: 2,
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          config: cfg,
          layers: [{ mediaType: 'text/plain', digest: D, size: 1 }],
        }),
        undefined,
        'm',
      ),
    /layers\[0\]: unsupported layer media type "text\/plain"/,
  );
  const ok = parseManifest(
    j({
      schemaVersion: 2,
      config: { ...cfg, mediaType: 'application/vnd.docker.container.image.v1+json' },
      layers: [],
    }),
    'application/vnd.docker.distribution.manifest.v2+json',
    'm',
  );
  assert.equal(ok.kind, 'manifest');
});
