import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkRoute, formatSplit, parseSplit, pickVersion } from './alias-split.js';
import { isAgniError } from './errors.js';

/** a seeded linear congruential generator (Numerical Recipes' constants): the same draws every run */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    return a / 2 ** 32;
  };
}

test('an alias without a split always picks its version', () => {
  const r = seeded(1);
  for (let i = 0; i < 100; i++) assert.equal(pickVersion({ version: 3 }, r), 3);
});

test('a split sends about its weight of the calls to the other version', () => {
  for (const [weight, seed] of [
    [0.1, 7],
    [0.5, 11],
    [0.9, 13],
  ] as const) {
    const r = seeded(seed);
    const n = 20_000;
    let other = 0;
    for (let i = 0; i < n; i++)
      if (pickVersion({ version: 3, split: { version: 4, weight } }, r) === 4) other++;
    // Four standard deviations of a binomial: fails only if the pick ignores the weight.
    const sd = Math.sqrt(n * weight * (1 - weight));
    assert.ok(Math.abs(other - n * weight) < 4 * sd, `weight ${weight}: ${other} of ${n}`);
  }
});

test('the pick follows the random source exactly at the edges', () => {
  const route = { version: 1, split: { version: 2, weight: 0.25 } };
  assert.equal(
    pickVersion(route, () => 0),
    2,
  );
  assert.equal(
    pickVersion(route, () => 0.2499),
    2,
  );
  assert.equal(
    pickVersion(route, () => 0.25),
    1,
  );
  assert.equal(
    pickVersion(route, () => 0.9999),
    1,
  );
});

test('--split takes VERSION=PERCENT% or VERSION=SHARE', () => {
  assert.deepEqual(parseSplit('4=10%'), { version: 4, weight: 0.1 });
  assert.deepEqual(parseSplit('4=0.25'), { version: 4, weight: 0.25 });
  assert.deepEqual(parseSplit(' 12=50% '), { version: 12, weight: 0.5 });
  assert.equal(formatSplit({ version: 4, weight: 0.1 }), '4=10%');
  for (const s of ['4', '4=', '=10%', '4=0%', '4=100%', '4=1', '4=150%', 'x=10%', '0=10%', '4=-5%']) {
    assert.throws(
      () => parseSplit(s),
      (e) => isAgniError(e) && e.code === 'bad_request' && /--split/.test(e.message),
      s,
    );
  }
});

test('a route must name versions that exist, and a split another one', () => {
  const exists = (v: number) => v === 1 || v === 2;
  checkRoute({ version: 1, split: { version: 2, weight: 0.5 } }, exists, 'f');
  assert.throws(
    () => checkRoute({ version: 3 }, exists, 'f'),
    (e) =>
      isAgniError(e) && e.code === 'version_not_found' && /`version`: f has no version 3/.test(e.message),
  );
  assert.throws(
    () => checkRoute({ version: 1, split: { version: 1, weight: 0.5 } }, exists, 'f'),
    /`split.version`: the split must name another version/,
  );
  assert.throws(
    () => checkRoute({ version: 1, split: { version: 9, weight: 0.5 } }, exists, 'f'),
    (e) => isAgniError(e) && e.code === 'version_not_found' && /split.version/.test(e.message),
  );
});
