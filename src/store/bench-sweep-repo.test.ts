import assert from 'node:assert/strict';
import { test } from 'node:test';
import { KEEP_SWEEPS, SqlBenchSweepRepository } from './bench-sweep-repo.js';
import { forEachDialect } from './test-stores.js';

forEachDialect((db) => {
  test('the latest published sweep; only the newest are kept', async () => {
    let t = 1000;
    const repo = new SqlBenchSweepRepository(db().store.db, () => t++);
    assert.equal(await repo.latest(), undefined);
    for (let i = 0; i < KEEP_SWEEPS + 3; i++) await repo.add(`fn${i}`, { kind: 'agni-bench-sweep', i });
    const latest = await repo.latest();
    assert.equal(latest?.function, `fn${KEEP_SWEEPS + 2}`);
    assert.deepEqual(latest?.summary, { kind: 'agni-bench-sweep', i: KEEP_SWEEPS + 2 });
    assert.equal(latest?.createdAt, 1000 + KEEP_SWEEPS + 2);
    const n = await db()
      .store.db.selectFrom('bench_sweeps')
      .select((e) => e.fn.countAll().as('n'))
      .executeTakeFirst();
    assert.equal(Number(n?.n), KEEP_SWEEPS);
  });
});
