import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LocalCache } from './local-cache.js';

test('local cache: loads once while the stamp holds, again after it moves or after clear()', async () => {
  let stamp = 1;
  let loads = 0;
  const c = new LocalCache<string, number>(() => stamp);
  const load = async () => ++loads;
  assert.equal(await c.get('a', load), 1);
  assert.equal(await c.get('a', load), 1, 'served from memory');
  stamp = 2; // another connection committed
  assert.equal(await c.get('a', load), 2);
  await c.around(async () => {}); // this process wrote
  assert.equal(await c.get('a', load), 3);
});

test('local cache: a read that overlaps a write or a foreign commit is not kept', async () => {
  let stamp = 1;
  let loads = 0;
  const c = new LocalCache<string, number>(() => stamp);
  let release!: () => void;
  const slow = c.get('a', async () => {
    loads++;
    await new Promise<void>((r) => {
      release = r;
    });
    return 0; // read before the write below: stale once it lands
  });
  await c.around(async () => {});
  release();
  assert.equal(await slow, 0);
  assert.equal(await c.get('a', async () => ++loads), 2, 'the stale read was not cached');
  const racing = c.get('b', async () => {
    stamp = 2; // a foreign commit while reading
    return 0;
  });
  await racing;
  assert.equal(await c.get('b', async () => 7), 7);
});

test('local cache: keeps at most max rows', async () => {
  const c = new LocalCache<number, number>(() => 1, 2);
  for (const k of [1, 2, 3]) await c.get(k, async () => k);
  let loaded = false;
  await c.get(1, async () => {
    loaded = true;
    return 1;
  });
  assert.ok(loaded, 'the oldest row went');
});

test('local cache: while a write runs, nothing is served from memory (its commit may be in already)', async () => {
  let row = 'old';
  const c = new LocalCache<string, string>(() => 1);
  const read = async () => row;
  assert.equal(await c.get('k', read), 'old');
  await c.around(async () => {
    row = 'new'; // committed; the write's own code still runs
    assert.equal(await c.get('k', read), 'new', 'not the cached old row');
    assert.equal(await c.get('k', async () => 'other'), 'other', 'and nothing was kept meanwhile');
  });
  assert.equal(await c.get('k', read), 'new');
});
