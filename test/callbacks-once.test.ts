/**
 * Callbacks across servers: every server's sender sees the same due callbacks (and every one is
 * kicked by every settle on the bus), yet each callback is POSTed once.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from 'node:test';
import pino from 'pino';
import { newRecord } from '../src/app/invoker.js';
import { parseAllowList } from '../src/core/address-policy.js';
import { parseManifest } from '../src/core/manifest.js';
import { SqlAsyncRepo } from '../src/store/async-sql.js';
import { FileBlobStore } from '../src/store/blob/file-blob-store.js';
import { newAsyncState, openTestDb } from '../src/store/test-stores.js';
import { asyncOutputKey } from '../src/triggers/blob-keys.js';
import { CallbackSender } from '../src/triggers/callbacks.js';
import { tempDir } from './helpers/tmp.js';

test('two servers deliver each pending callback once', async () => {
  const db = await openTestDb('postgres');
  const got: string[] = [];
  const receiver = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => {
      body += c;
    });
    req.on('end', () => {
      got.push((JSON.parse(body) as { id: string }).id);
      res.end('ok');
    });
  });
  receiver.listen(0, '127.0.0.1');
  await once(receiver, 'listening');
  const url = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/cb`;
  const blobs = new FileBlobStore(tempDir('agni-cb-'));
  // What the queue answers: the stored stdout, by key.
  const outputs = {
    output: async (id: string) => {
      const st = await blobs.stat(asyncOutputKey(id));
      return st && { bytes: st.bytes, open: () => blobs.open(asyncOutputKey(id)) };
    },
  };
  const logger = pino({ level: 'silent' });
  const allow = parseAllowList(['127.0.0.1']);
  const storeA = db.store;
  const storeB = await db.openAnother();
  const senders = [storeA, storeB].map(
    (s) => new CallbackSender(new SqlAsyncRepo(s.db), s, outputs, logger, allow),
  );
  try {
    const v = await storeA.addVersion({
      function: 'f',
      manifest: parseManifest('name: f\nruntime: host\ncommand: x\n'),
      codeDir: '/nowhere',
      imageId: 'host',
    });
    const repo = new SqlAsyncRepo(storeA.db);
    const ids: string[] = [];
    for (let i = 0; i < 10; i++) {
      const r = { ...newRecord(v, 0, {}), status: 'succeeded' as const };
      assert.ok(await repo.create(r, newAsyncState({ id: r.id, function: 'f', callbackUrl: url })));
      await blobs.put(asyncOutputKey(r.id), Buffer.from(`out ${i}`));
      ids.push(r.id);
    }
    // All settle at once, as the queue settles them; then every server hears of each.
    const now = Date.now();
    for (const id of ids)
      await repo.update(id, { settledAt: now, callbackState: 'pending', callbackNextAt: now, release: true });
    for (let i = 0; i < 5; i++) for (const s of senders) s.kick();
    const end = Date.now() + 30_000;
    for (;;) {
      const states = await Promise.all(ids.map((id) => repo.get(id)));
      if (states.every((s) => s?.callbackState === 'delivered')) break;
      assert.ok(
        Date.now() < end,
        `callbacks still pending: ${JSON.stringify(states.map((s) => s?.callbackState))}`,
      );
      await new Promise((r) => setTimeout(r, 100));
    }
    // Both senders went round again meanwhile: nothing more arrives.
    for (const s of senders) s.kick();
    await new Promise((r) => setTimeout(r, 500));
    assert.deepEqual([...got].sort(), [...ids].sort(), 'each callback POSTed exactly once');
  } finally {
    for (const s of senders) await s.close();
    receiver.close();
    await db.close();
  }
});
