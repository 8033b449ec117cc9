/** Cron ticks are claimed once across servers: the store decides, on SQLite and PostgreSQL. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { forEachDialect } from './test-stores.js';
import { SqlTriggerStateRepo } from './trigger-state.js';

forEachDialect((db) => {
  test('of two servers claiming the same ticks at once, exactly one gets each', async () => {
    const a = new SqlTriggerStateRepo(db().store.db, 'server-a');
    // Its own connections on PostgreSQL: a second server, truly concurrent.
    const b = new SqlTriggerStateRepo((await db().openAnother()).db, 'server-b');
    const t0 = Date.UTC(2026, 0, 1);
    const ticks = Array.from({ length: 30 }, (_, i) => t0 + i * 1000);
    const won = await Promise.all(
      ticks.flatMap((at) => [a.claimTick('f', 0, at), b.claimTick('f', 0, at), a.claimTick('f', 0, at)]),
    );
    for (let i = 0; i < ticks.length; i++) {
      assert.equal(won.slice(i * 3, i * 3 + 3).filter(Boolean).length, 1, `tick ${i} claimed once`);
    }
    // Another trigger, or another function, is another tick.
    assert.equal(await b.claimTick('f', 1, t0), true);
    assert.equal(await b.claimTick('g', 0, t0), true);
    const rows = await db()
      .store.db.selectFrom('cron_ticks')
      .selectAll()
      .where('function', '=', 'f')
      .execute();
    assert.equal(rows.length, 31);
    assert.ok(rows.every((r) => r.claimed_by === 'server-a' || r.claimed_by === 'server-b'));
  });

  test('claims older than a day are dropped as new ones are made', async () => {
    const repo = new SqlTriggerStateRepo(db().store.db, 'server-a');
    const t0 = Date.UTC(2026, 5, 1);
    assert.equal(await repo.claimTick('old', 0, t0), true);
    assert.equal(await repo.claimTick('old', 0, t0 + 25 * 3600_000), true);
    const left = await db()
      .store.db.selectFrom('cron_ticks')
      .select('tick_at')
      .where('function', '=', 'old')
      .execute();
    assert.deepEqual(
      left.map((r) => Number(r.tick_at)),
      [t0 + 25 * 3600_000],
    );
  });
});
