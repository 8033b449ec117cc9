import assert from 'node:assert/strict';
import { test } from 'node:test';
import { baseReference, defaultTag, planPlatforms, tagReference } from './build-service.js';
import { formatPlatform, parsePlatform } from './platform.js';

const ps = (...s: string[]) => s.map(parsePlatform);

test('planPlatforms: deduplicated in order; the primary is what the node runs first', () => {
  const node = ps('linux/amd64', 'linux/arm64/v8');
  const one = planPlatforms([], node);
  assert.deepEqual(one.platforms.map(formatPlatform), ['linux/amd64']);
  assert.equal(one.primary, 0);
  const two = planPlatforms(ps('linux/arm64', 'linux/amd64', 'linux/arm64'), node);
  assert.deepEqual(two.platforms.map(formatPlatform), ['linux/arm64', 'linux/amd64']);
  assert.equal(two.primary, 1);
  // none the node's own: the first it emulates, else the first asked for
  assert.equal(planPlatforms(ps('linux/s390x', 'linux/arm64'), node).primary, 1);
  assert.equal(planPlatforms(ps('linux/s390x', 'linux/riscv64'), node).primary, 0);
});

test('baseReference: host and non-references are refused naming runtime', () => {
  assert.throws(
    () => baseReference('host'),
    (e: Error & { details?: Record<string, unknown> }) => {
      assert.match(e.message, /field `runtime`: `host` is not an image/);
      assert.equal(e.details?.field, 'runtime');
      return true;
    },
  );
  assert.throws(() => baseReference('Not A Ref'), /field `runtime`: "Not A Ref" is not an image reference/);
  assert.equal(baseReference('busybox:1.36').repository, 'library/busybox');
});

test('tagReference: a digest is refused; the default tag is agni.local', () => {
  assert.throws(() => tagReference(`x/y@sha256:${'a'.repeat(64)}`), /--tag .*cannot carry a digest/);
  assert.equal(tagReference(defaultTag('wc')).registry, 'agni.local');
  assert.equal(tagReference(defaultTag('wc')).tag, 'latest');
});
