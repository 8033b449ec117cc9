/**
 * For the store's contract suites: the same tests run against every dialect, as Kysely runs its
 * own. Each PostgreSQL run gets a database of its own, dropped after.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe } from 'node:test';
import pg from 'pg';
import { parseManifest } from '../core/manifest.js';
import { type AsyncState, newAsyncState as makeAsyncState } from './async-sql.js';
import { type JobRow, newJobRow as makeJobRow } from './job-repo.js';
import { openPostgresStore } from './postgres.js';
import type { SqlStore } from './sql-store.js';
import { openSqliteStore } from './sqlite.js';

export const DIALECTS = ['sqlite', 'postgres'] as const;
export type Dialect = (typeof DIALECTS)[number];

export const TEST_PG_URL = process.env.AGNI_TEST_PG_URL || 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDb {
  dialect: Dialect;
  store: SqlStore;
  /**
   * another store on the same database, with its own connections (a second server). SQLite is
   * embedded, one process and one connection (two connections in one thread would wait on each
   * other's locks), so there it is the same store: its transactions queue on that connection.
   */
  openAnother(): Promise<SqlStore>;
  /** closes every store opened and drops the database */
  close(): Promise<void>;
}

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const c = new pg.Client({ connectionString: TEST_PG_URL });
  try {
    await c.connect();
  } catch (e) {
    throw new Error(
      `PostgreSQL is not reachable at ${TEST_PG_URL} (${(e as Error).message}): run scripts/setup.sh, or set AGNI_TEST_PG_URL`,
    );
  }
  try {
    return await fn(c);
  } finally {
    await c.end();
  }
}

export async function openTestDb(dialect: Dialect): Promise<TestDb> {
  const opened: SqlStore[] = [];
  if (dialect === 'sqlite') {
    // A file in WAL mode, as `agni up` has it.
    const dir = mkdtempSync(join(tmpdir(), 'agni-store-'));
    const store = await openSqliteStore(join(dir, 'agni.db'));
    return {
      dialect,
      store,
      openAnother: async () => store,
      async close() {
        await store.close();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  const name = `agni_test_${randomBytes(6).toString('hex')}`;
  // C collation: text sorts by bytes, as in SQLite, so listings come back in one order on both.
  await admin((c) =>
    c.query(`CREATE DATABASE ${name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'`),
  );
  const url = new URL(TEST_PG_URL);
  url.pathname = `/${name}`;
  const open = async () => {
    const s = await openPostgresStore(url.toString());
    opened.push(s);
    return s;
  };
  try {
    return {
      dialect,
      store: await open(),
      openAnother: open,
      async close() {
        for (const s of opened) await s.close();
        await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
      },
    };
  } catch (e) {
    await admin((c) => c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    throw e;
  }
}

/** declares `body`'s tests once per dialect, each dialect on a fresh database */
export function forEachDialect(body: (db: () => TestDb) => void): void {
  for (const dialect of DIALECTS) {
    describe(dialect, () => {
      let db: TestDb | undefined;
      before(async () => {
        db = await openTestDb(dialect);
      });
      after(async () => {
        await db?.close();
      });
      body(() => {
        if (!db) throw new Error(`the ${dialect} store did not open`);
        return db;
      });
    });
  }
}

/** a fresh job row for tests: created at time 0 unless told otherwise */
export function newJobRow(over: Partial<JobRow> & Pick<JobRow, 'id' | 'function'>): JobRow {
  return makeJobRow({ createdAt: 0, ...over });
}

/** an async invocation's state as submitted, due at time 0 unless told otherwise */
export function newAsyncState(over: Partial<AsyncState> & Pick<AsyncState, 'id' | 'function'>): AsyncState {
  return makeAsyncState({ nextAttemptAt: 0, ...over });
}

/** Stores a new version of `name`: `runtime: host` running `command`, code in /code/NAME, as a deploy would. */
export function addHostVersion(
  store: Pick<SqlStore, 'addVersion'>,
  name: string,
  o: { command?: string; imageId?: string } = {},
) {
  return store.addVersion({
    function: name,
    manifest: parseManifest(`name: ${name}\nruntime: host\ncommand: ${o.command ?? 'run'}\n`),
    codeDir: `/code/${name}`,
    imageId: o.imageId ?? 'host',
  });
}

/** `real` with some of its methods replaced: a test's slow, failing or counted store calls */
export function overriding<T extends object>(real: T, over: Partial<T>): T {
  return new Proxy(real, {
    get(target, prop, receiver) {
      if (Object.hasOwn(over, prop)) return over[prop as keyof T];
      return Reflect.get(target, prop, receiver);
    },
  });
}
