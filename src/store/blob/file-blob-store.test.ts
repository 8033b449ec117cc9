import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { readBlob } from './blob-store.js';
import { blobStoreContract } from './blob-store-contract.js';
import { FileBlobStore } from './file-blob-store.js';

function fixture() {
  const root = mkdtempSync(join(tmpdir(), 'agni-blobs-'));
  return { root, blobs: new FileBlobStore(root), close: () => rm(root, { recursive: true, force: true }) };
}

blobStoreContract('FileBlobStore', async () => fixture());

test('FileBlobStore: keys are paths under the root, as homes were laid out before it', async () => {
  const f = fixture();
  try {
    // A home from before: files written by the old code are read by key.
    await mkdir(join(f.root, 'async', 'results'), { recursive: true });
    writeFileSync(join(f.root, 'async', 'results', 'inv-1.out'), 'old output');
    // ...and a crash-left .part beside it is not a blob.
    writeFileSync(join(f.root, 'async', 'results', 'inv-2.out.part'), 'half');
    assert.equal((await readBlob(f.blobs, 'async/results/inv-1.out')).toString(), 'old output');
    assert.equal(await f.blobs.stat('async/results/inv-2.out'), undefined);
    await f.blobs.put('async/payloads/inv-3', Buffer.from('p'));
    assert.ok(existsSync(join(f.root, 'async', 'payloads', 'inv-3')));
    assert.deepEqual(readdirSync(join(f.root, 'async', 'payloads')), ['inv-3'], 'no temporary file stays');
    // Nothing outside the root is reachable.
    await assert.rejects(f.blobs.stat('../x'));
  } finally {
    await f.close();
  }
});

test('FileBlobStore: the next writer of a key overwrites what a crashed one left, so leftovers do not pile up', async () => {
  const f = fixture();
  try {
    await mkdir(join(f.root, 'async', 'results'), { recursive: true });
    writeFileSync(join(f.root, 'async', 'results', 'inv-4.out.part'), 'left by a crash, and longer');
    const w = await f.blobs.writer('async/results/inv-4.out', { limit: 100 });
    w.write(Buffer.from('rerun'));
    await w.commit();
    assert.equal((await readBlob(f.blobs, 'async/results/inv-4.out')).toString(), 'rerun');
    assert.deepEqual(readdirSync(join(f.root, 'async', 'results')), ['inv-4.out']);
  } finally {
    await f.close();
  }
});

test('FileBlobStore: a writer still commits after its directory was removed since an earlier writer made it', async () => {
  const f = fixture();
  try {
    const first = await f.blobs.writer('async/results/a.out', { limit: 100 });
    first.write(Buffer.from('a'));
    await first.commit();
    await f.blobs.deletePrefix('async');
    const next = await f.blobs.writer('async/results/b.out', { limit: 100 });
    next.write(Buffer.from('b'));
    await next.commit();
    assert.equal((await readBlob(f.blobs, 'async/results/b.out')).toString(), 'b');
    assert.deepEqual(readdirSync(join(f.root, 'async', 'results')), ['b.out']);
  } finally {
    await f.close();
  }
});
