import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { ContentStore, sha256Digest } from './content-store.js';

function store(): { s: ContentStore; dir: string } {
  const dir = mkdtempSync(join(tmpdir(), 'agni-cs-unit-'));
  return { s: new ContentStore(dir), dir };
}

async function* chunks(b: Buffer, size = 1000) {
  for (let i = 0; i < b.length; i += size) yield b.subarray(i, i + size);
}

test('ingest verifies, resumes from a .part, shares in-flight downloads, and prune frees bytes', async () => {
  const { s, dir } = store();
  try {
    const data = Buffer.alloc(10_000, 7);
    const digest = sha256Digest(data);
    await assert.rejects(s.putBytes(Buffer.from('x'), digest), /does not match its digest/);

    // A stale .part prefix and a stale lock of a dead process are both handled.
    await mkdir(join(s.root, 'ingest'), { recursive: true });
    writeFileSync(s.partPath(digest), data.subarray(0, 4000));
    writeFileSync(join(s.root, 'ingest', `${digest.slice(7)}.lock`), '999999999');
    let opens = 0;
    const open = async (offset: number) => {
      opens++;
      return { body: chunks(data.subarray(offset)), offset };
    };
    const [a, b] = await Promise.all([
      s.ingest(digest, data.length, open),
      s.ingest(digest, data.length, open),
    ]);
    assert.equal(opens, 1, 'one download for two callers');
    assert.equal(a.resumedFrom, 4000);
    assert.equal(a.fetched, 6000);
    assert.equal(b.fetched, 0);
    assert.ok((await s.read(digest)).equals(data));
    assert.equal(existsSync(s.partPath(digest)), false);

    // A Range the server ignores restarts the hash from byte 0.
    const other = Buffer.alloc(5000, 3);
    const od = sha256Digest(other);
    writeFileSync(s.partPath(od), Buffer.alloc(100, 9));
    const r = await s.ingest(od, other.length, async () => ({ body: chunks(other), offset: 0 }));
    assert.equal(r.resumedFrom, 0);
    assert.ok((await s.read(od)).equals(other));

    // Too many bytes: refused and nothing kept.
    const big = Buffer.alloc(200, 1);
    const bd = sha256Digest(big.subarray(0, 100));
    await assert.rejects(
      s.ingest(bd, 100, async () => ({ body: chunks(big), offset: 0 })),
      /more than the 100 bytes/,
    );
    assert.equal(await s.has(bd), false);
    assert.equal(existsSync(s.partPath(bd)), false);

    assert.equal(await s.prune(new Set([digest])), other.length);
    assert.ok(await s.has(digest));
    assert.equal(await s.has(od), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
