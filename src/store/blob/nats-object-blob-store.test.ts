import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { test } from 'node:test';
import { connect } from 'nats';
import { readBlob } from './blob-store.js';
import { blobStoreContract } from './blob-store-contract.js';
import { NatsObjectBlobStore } from './nats-object-blob-store.js';

const NATS_URL = process.env.AGNI_TEST_NATS_URL || 'nats://127.0.0.1:4222';

/** a bucket of its own for each test, destroyed after it */
async function fixture() {
  const nc = await connect({ servers: NATS_URL });
  const blobs = await NatsObjectBlobStore.open(nc, {
    bucket: `agni_blobs_test_${randomBytes(5).toString('hex')}`,
  });
  return {
    blobs,
    async close() {
      await blobs.destroy();
      await nc.close();
    },
  };
}

blobStoreContract('NatsObjectBlobStore', fixture);

test('NatsObjectBlobStore: a blob of many chunks streams in and out, ranges across chunk edges', async () => {
  const f = await fixture();
  try {
    const chunks = Array.from({ length: 40 }, (_, i) => randomBytes(50_000 + i));
    const whole = Buffer.concat(chunks);
    assert.deepEqual(await f.blobs.put('jobs/big/inputs/0', Readable.from(chunks)), { bytes: whole.length });
    assert.ok((await readBlob(f.blobs, 'jobs/big/inputs/0')).equals(whole));
    for (const [start, length] of <[number, number][]>[
      [0, 1],
      [131_071, 2],
      [131_072, 131_072],
      [whole.length - 10, 10],
      [300_000, 1_000_000],
    ]) {
      const got = await readBlob(f.blobs, 'jobs/big/inputs/0', { range: { start, length } });
      assert.ok(got.equals(whole.subarray(start, start + length)), `range ${start}+${length}`);
    }
    // A reader that stops early frees its consumer and leaves the blob readable.
    const s = await f.blobs.open('jobs/big/inputs/0');
    for await (const _ of s) break;
    assert.ok((await readBlob(f.blobs, 'jobs/big/inputs/0')).equals(whole));
  } finally {
    await f.close();
  }
});

test('NatsObjectBlobStore: a replaced or deleted blob leaves no chunks behind', async () => {
  const f = await fixture();
  const nc = await connect({ servers: NATS_URL });
  try {
    const jsm = await nc.jetstreamManager();
    const stream = `OBJ_${f.blobs.bucket}`;
    const msgs = async () => (await jsm.streams.info(stream)).state.messages;
    await f.blobs.put('a', randomBytes(300_000));
    const one = await msgs();
    await f.blobs.put('a', randomBytes(300_000));
    assert.equal(await msgs(), one, 'the old chunks were purged');
    const w = await f.blobs.writer('b', { limit: 1_000_000 });
    w.write(randomBytes(400_000));
    await w.abort();
    assert.equal(await msgs(), one, 'an aborted writer purged its chunks');
    await f.blobs.delete('a');
    assert.equal(await f.blobs.stat('a'), undefined);
    assert.ok((await msgs()) <= 1, 'only the delete marker stays');
  } finally {
    await nc.close();
    await f.close();
  }
});
