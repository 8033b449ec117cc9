/**
 * SQLite's lazy invocation writes of one event-loop turn commit together (sqlite-group-commit.ts):
 * one transaction for many, each write's own outcome, never inside a transaction Kysely has open.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect, sql } from 'kysely';
import { newRecord } from '../app/invoker.js';
import { openSqliteStore } from './sqlite.js';
import { SqliteGroupCommit } from './sqlite-group-commit.js';
import type { VersionRecord } from './store.js';

const dir = mkdtempSync(join(tmpdir(), 'agni-group-commit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const fn = { function: 'f', version: 1, manifest: { limits: { timeoutMs: 1000 } } } as VersionRecord;

test('group commit: the writes of one turn are one transaction, and a failing one fails alone', async () => {
  const raw = new Database(join(dir, 'raw.db'));
  raw.exec('create table t (id integer primary key)');
  let transactions = 0;
  const counted = new Proxy(raw, {
    get(target, prop) {
      if (prop === 'transaction')
        return (f: () => void) => {
          transactions++;
          return target.transaction(f);
        };
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
  const kysely = new Kysely<unknown>({ dialect: new SqliteDialect({ database: raw }) });
  const group = new SqliteGroupCommit(kysely, counted);
  const insert = (id: number) => group.run(sql`insert into t (id) values (${id})`.compile(kysely));
  try {
    await Promise.all([1, 2, 3, 4, 5].map(insert));
    assert.equal(transactions, 1, 'five writes of one turn, one transaction');
    assert.equal(raw.prepare('select count(*) from t').pluck().get(), 5);
    const outcomes = await Promise.allSettled([6, 3, 7].map(insert));
    assert.deepEqual(
      outcomes.map((o) => o.status),
      ['fulfilled', 'rejected', 'fulfilled'],
      'the duplicate fails, the others commit',
    );
    assert.deepEqual(raw.prepare('select id from t order by id').pluck().all(), [1, 2, 3, 4, 5, 6, 7]);
  } finally {
    await kysely.destroy();
  }
});

test('group commit: a lazy write never lands in (nor is rolled back with) an open Kysely transaction', async () => {
  const store = await openSqliteStore(join(dir, 'tx.db'));
  try {
    await sql`create table probe (id text)`.execute(store.db);
    const lazy = newRecord(fn, 0, { received: 2 });
    let written: Promise<void> | undefined;
    await assert.rejects(
      store.db.transaction().execute(async (trx) => {
        await sql`insert into probe (id) values ('in the transaction')`.execute(trx);
        written = store.createInvocation(lazy, { lazy: true });
        await sleep(20); // several turns of the event loop with the transaction open
        throw new Error('roll back');
      }),
      /roll back/,
    );
    await written;
    const probe = await sql<{ n: number }>`select count(*) as n from probe`.execute(store.db);
    assert.equal(probe.rows[0]?.n, 0, 'the transaction was rolled back');
    assert.equal((await store.getInvocation(lazy.id))?.id, lazy.id, 'the lazy write is not lost with it');
  } finally {
    await store.close();
  }
});

test('group commit: closing the store commits the writes still waiting', async () => {
  const file = join(dir, 'close.db');
  const store = await openSqliteStore(file);
  const r = newRecord(fn, 0, { received: 1 });
  const written = store.createInvocation(r, { lazy: true });
  await store.close();
  await written;
  const again = await openSqliteStore(file);
  try {
    assert.equal((await again.getInvocation(r.id))?.id, r.id);
  } finally {
    await again.close();
  }
});
