import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import type { Database as Schema } from './schema.js';
import { SqlStore } from './sql-store.js';
import { cachingDatabase } from './statement-cache.js';

/** Opens (and migrates) the embedded store. WAL keeps readers off the writer's back. */
export async function openSqliteStore(file: string, o: { owner?: string } = {}): Promise<SqlStore> {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const sqlite = new Database(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('busy_timeout = 5000');
  const store = new SqlStore(
    new Kysely<Schema>({ dialect: new SqliteDialect({ database: cachingDatabase(sqlite) }) }),
    o.owner,
  );
  await store.migrate();
  return store;
}
