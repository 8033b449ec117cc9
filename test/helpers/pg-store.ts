/**
 * AGNI_TEST_STORE=postgres runs the integration tests with their servers' state in PostgreSQL
 * (AGNI_TEST_PG_URL): one database per server home, so a restart finds its state again; all
 * dropped when the test file ends.
 */
import { createHash } from 'node:crypto';
import { after } from 'node:test';
import pg from 'pg';
import { TEST_PG_URL } from '../../src/store/test-stores.js';

const created = new Set<string>();

async function admin(sqlText: string): Promise<void> {
  const c = new pg.Client({ connectionString: TEST_PG_URL });
  await c.connect();
  try {
    await c.query(sqlText);
  } finally {
    await c.end();
  }
}

after(async () => {
  for (const name of created) await admin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
});

/**
 * the store a test server of `home` uses: undefined (its SQLite file) unless AGNI_TEST_STORE=postgres
 * or `always`
 */
export async function testStoreFor(home: string, always = false): Promise<string | undefined> {
  if (!always && process.env.AGNI_TEST_STORE !== 'postgres') return undefined;
  const name = `agni_it_${createHash('sha256').update(home).digest('hex').slice(0, 16)}`;
  if (!created.has(name)) {
    await admin(`CREATE DATABASE ${name} TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'`);
    created.add(name);
  }
  const url = new URL(TEST_PG_URL);
  url.pathname = `/${name}`;
  return url.toString();
}
