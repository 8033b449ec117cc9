import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { NulToReplacementPlugin } from './nul-plugin.js';
import type { Database as Schema } from './schema.js';
import { SqlStore } from './sql-store.js';

const INT8 = 20;

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
  const pool = new pg.Pool({ connectionString: url, max: o.maxConnections ?? 10, types });
  // An idle client losing its server (a PostgreSQL restart) must not crash the process.
  pool.on('error', () => {});
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
