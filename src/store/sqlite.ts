import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import type { ChangeStamp } from './local-cache.js';
import type { Database as Schema } from './schema.js';
import { SqlStore } from './sql-store.js';
import { SqliteGroupCommit } from './sqlite-group-commit.js';
import { cachingDatabase } from './statement-cache.js';

/** Opens (and migrates) the embedded store. WAL keeps readers off the writer's back. */
export async function openSqliteStore(file: string, o: { owner?: string } = {}): Promise<SqlStore> {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const sqlite = new Database(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('busy_timeout = 5000');
  const cached = cachingDatabase(sqlite);
  const db = new Kysely<Schema>({ dialect: new SqliteDialect({ database: cached }) });
  const store = new SqlStore(
    db,
    o.owner,
    undefined,
    sqliteChangeStamp(sqlite),
    new SqliteGroupCommit(db as Kysely<unknown>, cached),
  );
  await store.migrate();
  return store;
}

/** how long a read of SQLite's change counter stands for it */
export const CHANGE_STAMP_MS = 10;

/**
 * SQLite's count of commits by other connections to the file (another process on the same home),
 * read at most every CHANGE_STAMP_MS: the pragma costs as much as the reads it spares (a profile
 * under load), and this process's own writes clear the caches at once anyway. So another process's
 * change shows here within 10 ms.
 */
export function sqliteChangeStamp(sqlite: Database.Database, maxAgeMs = CHANGE_STAMP_MS): ChangeStamp {
  const st = sqlite.prepare('PRAGMA data_version').pluck();
  let value = 0;
  let readAt = Number.NEGATIVE_INFINITY;
  return () => {
    const now = performance.now();
    if (now - readAt >= maxAgeMs) {
      value = st.get() as number;
      readAt = now;
    }
    return value;
  };
}
