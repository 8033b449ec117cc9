/** The one place a store is chosen: a postgres:// URL or a SQLite file path. */
import { AgniError } from '../core/errors.js';
import { isPostgresUrl, openPostgresStore } from './postgres.js';
import type { SqlStore } from './sql-store.js';
import { openSqliteStore } from './sqlite.js';

/** the URL without its password, for messages */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = '***';
    return u.toString();
  } catch {
    return 'postgres://…';
  }
}

/** `owner`: this server instance's id (src/store/server-instances.ts); embedded mode's by default */
export async function openStore(spec: string, o: { owner?: string } = {}): Promise<SqlStore> {
  if (!isPostgresUrl(spec)) return openSqliteStore(spec, o);
  try {
    new URL(spec);
  } catch {
    throw new AgniError(
      'bad_request',
      '--store: expected a SQLite file path or a postgres://user@host:port/db URL',
      {
        hint: 'e.g. --store postgres://agni@127.0.0.1:5432/agni',
      },
    );
  }
  try {
    return await openPostgresStore(spec, o);
  } catch (e) {
    const why = (e as Error).message;
    throw new AgniError(
      'store_unavailable',
      `the PostgreSQL store at ${redactUrl(spec)} cannot be used: ${why}`,
      {
        hint: 'check that PostgreSQL runs there, the database exists and the user may connect (`psql URL`)',
      },
    );
  }
}
