/**
 * better-sqlite3 behind Kysely's SqliteDialect, with its prepared statements kept by SQL text.
 * Kysely prepares every query afresh; for the few dozen distinct statements the store runs, that
 * parse and plan was the largest single cost of an invocation's store work (a profile under load).
 * Statements run synchronously, so one is never shared by two queries at once; one still iterating
 * (a streamed query) is `busy`, and a fresh one is prepared beside it.
 */
import type { Database, Statement } from 'better-sqlite3';

/** distinct statements kept; past it the oldest goes (queries built from user input never repeat) */
export const MAX_STATEMENTS = 256;

export function cachingDatabase(db: Database, max = MAX_STATEMENTS): Database {
  const cache = new Map<string, Statement>();
  const prepare = (sql: string): Statement => {
    const hit = cache.get(sql);
    if (hit && !hit.busy) return hit;
    const stmt = db.prepare(sql);
    if (!hit) {
      cache.set(sql, stmt);
      if (cache.size > max) cache.delete(cache.keys().next().value as string);
    }
    return stmt;
  };
  return new Proxy(db, {
    get(target, prop) {
      if (prop === 'prepare') return prepare;
      const v = Reflect.get(target, prop, target) as unknown;
      return typeof v === 'function' ? v.bind(target) : v;
    },
  });
}
