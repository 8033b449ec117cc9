/**
 * The BlobStore contract, as a suite any implementation runs: `blobStoreContract(name, factory)`
 * from its own test file (FileBlobStore today; a JetStream object store later).
 */
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { isAgniError } from '../../core/errors.js';
import { type BlobStore, isBlobMissing, readBlob } from './blob-store.js';

export interface BlobStoreFixture {
  blobs: BlobStore;
  /** frees what the store holds (a temporary directory, a bucket) */
  close(): Promise<void>;
}

async function withStore(factory: () => Promise<BlobStoreFixture>, fn: (b: BlobStore) => Promise<void>) {
  const f = await factory();
  try {
    await fn(f.blobs);
  } finally {
    await f.close();
  }
}

export const HOSTILE_KEYS = [
  '',
  '/etc/passwd',
  '../outside',
  'async/../../outside',
  'async/./x',
  'async//x',
  'async/x/',
  'a\\b',
  'a\0b',
  'async/x.part',
  'async/x.tmp',
  'x'.repeat(513),
];

export function blobStoreContract(name: string, factory: () => Promise<BlobStoreFixture>): void {
  const t = (what: string, fn: (b: BlobStore) => Promise<void>) =>
    test(`${name}: ${what}`, () => withStore(factory, fn));

  t('put, stat, open and delete a blob', async (b) => {
    assert.deepEqual(await b.put('async/payloads/a', Buffer.from('hello')), { bytes: 5 });
    assert.deepEqual(await b.stat('async/payloads/a'), { bytes: 5 });
    assert.equal((await readBlob(b, 'async/payloads/a')).toString(), 'hello');
    assert.equal(
      (await readBlob(b, 'async/payloads/a', { range: { start: 1, length: 3 } })).toString(),
      'ell',
    );
    assert.equal((await readBlob(b, 'async/payloads/a', { range: { start: 5, length: 0 } })).length, 0);
    await assert.rejects(readBlob(b, 'async/payloads/a', { range: { start: 3, length: 3 } }));
    await b.put('async/payloads/a', Buffer.from('bye'));
    assert.equal((await readBlob(b, 'async/payloads/a')).toString(), 'bye', 'a put replaces');
    await b.delete('async/payloads/a');
    assert.equal(await b.stat('async/payloads/a'), undefined);
    await assert.rejects(b.open('async/payloads/a'), isBlobMissing);
  });

  t('an empty blob is a blob', async (b) => {
    await b.put('e', Buffer.alloc(0));
    assert.deepEqual(await b.stat('e'), { bytes: 0 });
    assert.equal((await readBlob(b, 'e')).length, 0);
  });

  t('a streamed put stores every byte', async (b) => {
    const chunks = Array.from({ length: 64 }, (_, i) => Buffer.alloc(16 * 1024, i));
    const r = await b.put('jobs/j1/inputs/0', Readable.from(chunks));
    assert.equal(r.bytes, 64 * 16 * 1024);
    assert.ok((await readBlob(b, 'jobs/j1/inputs/0')).equals(Buffer.concat(chunks)));
  });

  t('a streamed put that fails or is aborted leaves nothing under the key', async (b) => {
    async function* broken() {
      yield Buffer.from('part of it');
      throw new Error('the source broke');
    }
    await assert.rejects(b.put('k', Readable.from(broken())), /the source broke/);
    assert.equal(await b.stat('k'), undefined);
    const ac = new AbortController();
    async function* slow() {
      yield Buffer.from('x');
      ac.abort();
      yield Buffer.from('y');
    }
    await assert.rejects(b.put('k', Readable.from(slow()), { signal: ac.signal }));
    assert.equal(await b.stat('k'), undefined);
  });

  t('a writer keeps up to its limit and counts the rest', async (b) => {
    const w = await b.writer('async/results/r.out', { limit: 10 });
    w.write(Buffer.from('0123456'));
    w.write(Buffer.from('789abcdef'));
    w.write(Buffer.from('ghij'));
    assert.equal(w.kept, 10);
    assert.equal(w.seen, 20);
    assert.equal(await b.stat('async/results/r.out'), undefined, 'nothing shows before the commit');
    assert.deepEqual(await w.commit(), { bytes: 10 });
    assert.equal((await readBlob(b, 'async/results/r.out')).toString(), '0123456789');
  });

  t('a writer past 64 KiB (a file store streams it) keeps every byte up to its limit', async (b) => {
    const chunks = Array.from({ length: 40 }, (_, i) => Buffer.alloc(4096, i));
    const whole = Buffer.concat(chunks);
    const w = await b.writer('async/results/big.out', { limit: 150_000 });
    for (const c of chunks) w.write(c);
    assert.equal(w.seen, whole.length);
    assert.deepEqual(await w.commit(), { bytes: 150_000 });
    assert.ok((await readBlob(b, 'async/results/big.out')).equals(whole.subarray(0, 150_000)));
    // Small and large ranges of a large blob; a range past its end fails.
    const r = (start: number, length: number) =>
      readBlob(b, 'async/results/big.out', { range: { start, length } });
    assert.ok((await r(4090, 12)).equals(whole.subarray(4090, 4102)));
    assert.ok((await r(1000, 100_000)).equals(whole.subarray(1000, 101_000)));
    await assert.rejects(r(149_990, 20));
    await assert.rejects(r(100_000, 60_000));
  });

  t('an aborted writer leaves the key as it was', async (b) => {
    await b.put('async/results/r.out', Buffer.from('earlier'));
    const w = await b.writer('async/results/r.out', { limit: 100 });
    w.write(Buffer.from('later'));
    await w.abort();
    assert.equal((await readBlob(b, 'async/results/r.out')).toString(), 'earlier');
  });

  t('a writer left uncommitted (a crash) is never seen, and the key can be written again', async (b) => {
    const crashed = await b.writer('async/results/c.out', { limit: 100 });
    crashed.write(Buffer.from('half'));
    // No commit, no abort: the process died here.
    assert.equal(await b.stat('async/results/c.out'), undefined);
    await assert.rejects(b.open('async/results/c.out'), isBlobMissing);
    const again = await b.writer('async/results/c.out', { limit: 100 });
    again.write(Buffer.from('whole'));
    await again.commit();
    assert.equal((await readBlob(b, 'async/results/c.out')).toString(), 'whole');
    await crashed.abort();
    assert.equal((await readBlob(b, 'async/results/c.out')).toString(), 'whole');
  });

  t('concurrent puts of different keys all land whole', async (b) => {
    const keys = Array.from({ length: 32 }, (_, i) => `async/payloads/p${i}`);
    await Promise.all(keys.map((k, i) => b.put(k, Buffer.alloc(1000 + i, i))));
    for (const [i, k] of keys.entries()) {
      const got = await readBlob(b, k);
      assert.ok(got.equals(Buffer.alloc(1000 + i, i)), k);
    }
  });

  t('deleting a missing blob or prefix is no error; a prefix takes all below it', async (b) => {
    await b.delete('async/payloads/none');
    await b.deletePrefix('jobs/none');
    await b.put('jobs/j2/inputs/0', Buffer.from('a'));
    await b.put('jobs/j2/inputs/1', Buffer.from('b'));
    await b.put('jobs/j22/inputs/0', Buffer.from('c'));
    await b.deletePrefix('jobs/j2');
    assert.equal(await b.stat('jobs/j2/inputs/0'), undefined);
    assert.equal(await b.stat('jobs/j2/inputs/1'), undefined);
    assert.deepEqual(await b.stat('jobs/j22/inputs/0'), { bytes: 1 }, 'a sibling with a longer name stays');
  });

  t('hostile keys are refused by every call', async (b) => {
    for (const k of HOSTILE_KEYS) {
      const refused = (e: unknown) => isAgniError(e) && /blob key/.test(e.message);
      await assert.rejects(b.put(k, Buffer.from('x')), refused, `put ${JSON.stringify(k)}`);
      await assert.rejects(b.open(k), refused, `open ${JSON.stringify(k)}`);
      await assert.rejects(b.stat(k), refused, `stat ${JSON.stringify(k)}`);
      await assert.rejects(b.delete(k), refused, `delete ${JSON.stringify(k)}`);
      await assert.rejects(b.deletePrefix(k), refused, `deletePrefix ${JSON.stringify(k)}`);
      await assert.rejects(b.writer(k, { limit: 1 }), refused, `writer ${JSON.stringify(k)}`);
    }
  });
}
