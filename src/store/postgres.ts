import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { NulToReplacementPlugin } from './nul-plugin.js';
import type { Database as Schema } from './schema.js';
import { SqlStore } from './sql-store.js';

const INT8 = 20;
const CONNECT_TIMEOUT_MS = 5_000;

/**
 * Millisecond timestamps and byte counts are bigint columns; node-postgres hands int8 back as a
 * string (it may exceed 2^53). Ours never do, and the store promises numbers, so this pool parses
 * them (and COUNT(*), also int8). Set on the pool, not globally, so nothing else in the process
 * is affected.
 */
const types = {
  getTypeParser(oid: number, format?: 'text' | 'binary') {
    if (oid === INT8 && format !== 'binary') return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format);
  },
};

/** true for postgres:// and postgresql:// URLs: what `--store` takes besides a SQLite path */
export function isPostgresUrl(s: string): boolean {
  return /^postgres(ql)?:\/\//.test(s);
}

/**
 * A pool whose clients never crash the process when they lose their server (a PostgreSQL restart,
 * a cut link): idle ones are the pool's 'error'; one checked out emits on itself too, with no
 * listener then (the pool takes its own off), though its query already failed with the same error.
 * The pool drops the dead client when it is released, and the next query connects afresh.
 */
function pool(url: string, max: number, options?: string): pg.Pool {
  // A database host that answers nothing (a cut link) fails a connect in 5 s instead of hanging it.
  const p = new pg.Pool({
    connectionString: url,
    max,
    types,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    ...(options ? { options } : {}),
  });
  p.on('error', () => {});
  p.on('connect', (client) => client.on('error', () => {}));
  return p;
}

const kysely = (p: pg.Pool) =>
  new Kysely<Schema>({ dialect: new PostgresDialect({ pool: p }), plugins: [new NulToReplacementPlugin()] });

/** connections kept for lazy invocation writes (WriteOptions): a sync call makes at most three */
const LAZY_CONNECTIONS = 4;

/** Opens (and migrates) the cluster store. Migrations take Kysely's advisory lock, so servers can start together. */
export async function openPostgresStore(
  url: string,
  o: { maxConnections?: number; owner?: string } = {},
): Promise<SqlStore> {
  // Lazy writes commit without waiting for the log's flush to disk: on a loaded disk that wait is
  // most of a write's time (3–4 ms against 0.6 ms measured here), and a sync call makes three.
  const store = new SqlStore(
    kysely(pool(url, o.maxConnections ?? 10)),
    o.owner,
    kysely(pool(url, LAZY_CONNECTIONS, '-c synchronous_commit=off')),
  );
  try {
    await store.migrate();
  } catch (e) {
    await store.close();
    throw e;
  }
  return store;
}
