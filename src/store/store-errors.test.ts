import assert from 'node:assert/strict';
import { test } from 'node:test';
import pg from 'pg';
import { isStoreUnavailable, STORE_RETRY_AFTER_S, storeUnavailable } from './store-errors.js';

test('connection errors are the store being away; the rest are not', () => {
  const withCode = (code: string, message = 'x') => Object.assign(new Error(message), { code });
  for (const e of [
    withCode('ECONNREFUSED'),
    withCode('ECONNRESET'),
    withCode('57P01', 'terminating connection due to administrator command'),
    withCode('57P03', 'the database system is starting up'),
    withCode('08006'),
    withCode('08P01'),
    new Error('Connection terminated unexpectedly'),
    new Error('timeout exceeded when trying to connect'),
    Object.assign(new AggregateError([withCode('ECONNREFUSED')], ''), { code: 'ECONNREFUSED' }),
    new Error('wrapped', { cause: withCode('ECONNRESET') }),
  ])
    assert.equal(isStoreUnavailable(e), true, `${(e as Error).message} ${(e as { code?: string }).code}`);
  for (const e of [
    withCode('23505', 'duplicate key value violates unique constraint'),
    withCode('42P01', 'relation "x" does not exist'),
    withCode('SQLITE_BUSY'),
    new Error('boom'),
    undefined,
    'ECONNREFUSED',
  ])
    assert.equal(isStoreUnavailable(e), false, String(e));
});

test('a real refused connection is recognised, and answered as store_unavailable (503) with a retry time', async () => {
  // A port nobody listens on: what the pool sees while PostgreSQL is down.
  const pool = new pg.Pool({
    connectionString: 'postgres://agni@127.0.0.1:1/agni',
    connectionTimeoutMillis: 2000,
  });
  pool.on('error', () => {});
  const err = await pool.query('select 1').then(
    () => undefined,
    (e: unknown) => e,
  );
  await pool.end();
  assert.equal(isStoreUnavailable(err), true, String(err));
  const e = storeUnavailable(err);
  assert.equal(e.code, 'store_unavailable');
  assert.equal(e.status, 503);
  assert.equal(e.details?.retry_after_s, STORE_RETRY_AFTER_S);
  assert.match(e.hint ?? '', /retry/);
});
