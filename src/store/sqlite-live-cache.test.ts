/**
 * The SQLite store keeps live versions and "is there any API token" in memory (local-cache.ts).
 * Two connections on one file stand for two processes on one home: what either writes, the other
 * reads next (the other's within CHANGE_STAMP_MS), cache or not.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { SqlApiTokenRepository } from './api-token-repo.js';
import type { SqlStore } from './sql-store.js';
import { CHANGE_STAMP_MS, openSqliteStore } from './sqlite.js';
import { addHostVersion } from './test-stores.js';

/** another connection's commit shows within CHANGE_STAMP_MS */
const settle = () => sleep(CHANGE_STAMP_MS + 5);

const dir = mkdtempSync(join(tmpdir(), 'agni-live-cache-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const deploy = (s: SqlStore, name: string, command: string) => addHostVersion(s, name, { command });

test('sqlite live cache: every change is seen, its own and another connection’s', async () => {
  const file = join(dir, 'agni.db');
  const a = await openSqliteStore(file);
  const b = await openSqliteStore(file);
  try {
    assert.equal(await a.getLatestVersion('f'), undefined);
    await deploy(b, 'f', 'one'); // another process deploys
    await settle();
    assert.equal((await a.getLatestVersion('f'))?.version, 1);
    assert.equal((await a.getLatestVersion('f'))?.version, 1, 'a second read, from memory');
    await deploy(b, 'f', 'two');
    await settle();
    assert.equal((await a.getLatestVersion('f'))?.version, 2, 'the other connection’s deploy');
    await a.setLiveVersion('f', 1); // its own rollback
    assert.equal((await a.getLatestVersion('f'))?.version, 1);
    await settle();
    assert.equal((await b.getLatestVersion('f'))?.version, 1);
    assert.match(String((await a.getVersion('f', 2))?.manifest.command), /two/);
    await b.removeFunction('f');
    await settle();
    assert.equal(await a.getLatestVersion('f'), undefined);
    assert.equal(await a.getVersion('f', 2), undefined, 'a removed version is gone from memory too');
    await deploy(a, 'g', 'one');
    await deploy(a, 'g', 'two');
    assert.equal((await a.getVersion('g', 1))?.version, 1);
    await a.setLiveVersion('g', 1);
    assert.ok(!('removed' in ((await a.removeVersion('g', 1)) ?? {})), 'the live one stays');
    assert.ok('removed' in ((await a.removeVersion('g', 2)) ?? {}));
    assert.equal(await a.getVersion('g', 2), undefined, 'its own removal');

    const ta = new SqlApiTokenRepository(a.db, a.changeStamp);
    const tb = new SqlApiTokenRepository(b.db, b.changeStamp);
    assert.equal(await ta.any(), false);
    assert.ok(await tb.insert({ name: 'ci', tokenHash: 'h'.repeat(64), scopes: ['admin'], createdAt: 1 }));
    await settle();
    assert.equal(await ta.any(), true, 'a token made by the other connection turns auth on');
    assert.equal(await tb.remove('ci'), true);
    await settle();
    assert.equal(await ta.any(), false);
    assert.ok(await ta.insert({ name: 'own', tokenHash: 'g'.repeat(64), scopes: ['admin'], createdAt: 1 }));
    assert.equal(await ta.any(), true);
  } finally {
    await a.close();
    await b.close();
  }
});
