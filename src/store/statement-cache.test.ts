import assert from 'node:assert/strict';
import { test } from 'node:test';
import Database from 'better-sqlite3';
import { cachingDatabase } from './statement-cache.js';

test('one statement per SQL text; a busy one is not reused; the oldest goes past the bound', () => {
  const raw = new Database(':memory:');
  const db = cachingDatabase(raw, 2);
  db.exec('create table t (x integer)');
  const a = db.prepare('insert into t values (?)');
  assert.equal(db.prepare('insert into t values (?)'), a, 'the same statement again');
  for (let i = 0; i < 3; i++) a.run(i);
  const sel = db.prepare('select x from t order by x');
  const it = sel.iterate();
  it.next(); // sel is busy now
  const other = db.prepare('select x from t order by x');
  assert.notEqual(other, sel, 'a busy statement is not handed out');
  assert.deepEqual(
    other.all().map((r) => (r as { x: number }).x),
    [0, 1, 2],
  );
  it.return?.();
  db.prepare('select 1'); // a third text: the oldest (the insert) is dropped
  assert.notEqual(db.prepare('insert into t values (?)'), a);
  raw.close();
});
