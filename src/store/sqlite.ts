import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { Kysely, SqliteDialect } from 'kysely';
import type { Database as Schema } from './schema.js';
import { SqlStore } from './sql-store.js';

/** Opens (and migrates) the embedded store. WAL keeps readers off the writer's back. */
export async function openSqliteStore(file: string, o: { owner?: string } = {}): Promise<SqlStore> {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const sqlite = new Database(file);
  sqlite.pragma('journal_mode = WAL');
  sqlite.pragma('synchronous = NORMAL');
  sqlite.pragma('busy_timeout = 5000');
  if (process.env.AGNI_SQL_TRACE) {
    const stats = new Map<string, { n: number; ms: number }>();
    const prep = sqlite.prepare.bind(sqlite);
    (sqlite as unknown as { prepare: unknown }).prepare = (sql: string) => {
      const t0 = performance.now();
      const st = prep(sql);
      const key = sql.slice(0, 160);
      const add = (t: number) => {
        const e = stats.get(key) ?? { n: 0, ms: 0 };
        e.n++;
        e.ms += performance.now() - t;
        stats.set(key, e);
      };
      add(t0);
      for (const m of ['all', 'run', 'get', 'iterate'] as const) {
        const f = (st as unknown as Record<string, (...a: unknown[]) => unknown>)[m]!.bind(st);
        (st as unknown as Record<string, unknown>)[m] = (...a: unknown[]) => {
          const t = performance.now();
          try {
            return f(...a);
          } finally {
            add(t);
          }
        };
      }
      return st;
    };
    process.on('exit', () => {
      const rows = [...stats].sort((a, b) => b[1].ms - a[1].ms).slice(0, 40);
      writeFileSync(
        process.env.AGNI_SQL_TRACE!,
        rows.map(([k, v]) => `${v.ms.toFixed(0).padStart(7)} ms ${String(v.n).padStart(7)}x ${k}`).join('\n'),
      );
    });
  }
  const store = new SqlStore(
    new Kysely<Schema>({ dialect: new SqliteDialect({ database: sqlite }) }),
    o.owner,
  );
  await store.migrate();
  return store;
}
