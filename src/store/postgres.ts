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

/** Opens (and migrates) the cluster store. Migrations take Kysely's advisory lock, so servers can start together. */
export async function openPostgresStore(
  url: string,
  o: { maxConnections?: number; owner?: string } = {},
): Promise<SqlStore> {
  // A database host that answers nothing (a cut link) fails a connect in 5 s instead of hanging it.
  const pool = new pg.Pool({
    connectionString: url,
    max: o.maxConnections ?? 10,
    types,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
  });
  // A client losing its server (a PostgreSQL restart, a cut link) must not crash the process: idle
  // ones are the pool's 'error'; one checked out emits on itself too, with no listener then (the
  // pool takes its own off), though its query already failed with the same error. The pool drops
  // the dead client when it is released, and the next query connects afresh.
  pool.on('error', () => {});
  pool.on('connect', (client) => client.on('error', () => {}));
  const store = new SqlStore(
    new Kysely<Schema>({ dialect: new PostgresDialect({ pool }), plugins: [new NulToReplacementPlugin()] }),
    o.owner,
  );
  try {
    await store.migrate();
  } catch (e) {
    await store.close();
    throw e;
  }
  return store;
}
