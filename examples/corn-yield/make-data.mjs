#!/usr/bin/env node
// The data step of the corn-yield study: a synthetic training table with the study's shape
// (12 monthly mean temperatures, 12 monthly precipitation totals, their annual mean and total,
// and a 0–10 integer "years grown" target that depends on them, with noise), written as a SQLite
// file for the read-only volume and loaded, row for row the same, into PostgreSQL.
//
//   node examples/corn-yield/make-data.mjs [--out study-data] [--rows 40000] [--seed 14]
//        [--pg postgres://postgres@127.0.0.1:5432/agni_study | --no-pg]
//
// Deterministic: one seed and row count give the same rows, so every run, language and
// isolation level fits the same table. Idempotent: a table already made from the same
// parameters (its `study_meta` row says so, in SQLite and in PostgreSQL alike) is left alone.
// Uses the repository's own dependencies (better-sqlite3, pg): run it from a checkout.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import Database from 'better-sqlite3';
import pg from 'pg';

/** bump when the generator's output changes for the same parameters */
const GENERATOR_VERSION = 1;
export const TABLE = 'corn_yield';
export const FILE = 'corn-yield.sqlite';
const MONTHS = Array.from({ length: 12 }, (_, i) => String(i + 1).padStart(2, '0'));
export const FEATURES = [
  'tmean_annual',
  'prec_annual',
  ...MONTHS.map((m) => `tmean_${m}`),
  ...MONTHS.map((m) => `prec_${m}`),
];
export const COLUMNS = ['id', 'site', 'year', ...FEATURES, 'years_grown'];
/** sites × years: each site has its own climate, each year its weather around it */
const YEARS = 20;

/** mulberry32: a small, fast, well-distributed 32-bit PRNG; floats in [0, 1). */
function makeRng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** standard normal draws (Box–Muller) from `rng` */
function makeNormal(rng) {
  return () => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
}

const round1 = (x) => Math.round(x * 10) / 10;
const clamp = (x, lo, hi) => Math.min(hi, Math.max(lo, x));

/**
 * Every row, in id order. Corn wants a warm season (growing degree days over 10 °C, April to
 * September), rain in June–August without drowning, no late frost and no scorching July: the
 * target is ten times a suitability in [0, 1] built from those, plus noise, rounded and clamped.
 */
export function* rows(n, seed) {
  const rng = makeRng(seed);
  const normal = makeNormal(rng);
  let site;
  for (let id = 1; id <= n; id++) {
    if ((id - 1) % YEARS === 0)
      site = {
        id: Math.floor((id - 1) / YEARS) + 1,
        t0: 1 + 14 * rng(), // annual mean temperature, °C
        amp: 7 + 9 * rng(), // half the summer–winter difference
        p0: 20 + 90 * rng(), // mean monthly precipitation, mm
        wet: -0.6 + 1.2 * rng(), // how much wetter summer is than winter (negative: drier)
      };
    const year = 2000 + ((id - 1) % YEARS);
    const warmth = 1.2 * normal(); // the year's anomaly, shared by its months
    const tm = MONTHS.map((_, i) => {
      const season = -Math.cos((2 * Math.PI * (i + 0.5)) / 12); // −1 in January, +1 in July
      return round1(site.t0 + warmth + site.amp * season + 1.5 * normal());
    });
    const pr = MONTHS.map((_, i) => {
      const season = -Math.cos((2 * Math.PI * (i + 0.5)) / 12);
      return round1(Math.max(0, site.p0 * (1 + site.wet * season) * Math.exp(0.45 * normal())));
    });
    const gdd = tm.slice(3, 9).reduce((s, t) => s + 30 * clamp(t - 10, 0, 20), 0);
    const summerRain = pr[5] + pr[6] + pr[7];
    const heat = Math.exp(-(((gdd - 1800) / 900) ** 2));
    const water = Math.exp(-(((summerRain - 300) / 230) ** 2));
    const frost = tm[4] < 6 || tm[8] < 6 ? 0.55 : 1;
    const scorch = tm[6] > 29 ? 0.6 : 1;
    const suit = heat * water * frost * scorch;
    const yearsGrown = clamp(Math.round(10 * suit + 1.1 * normal()), 0, 10);
    const tAnnual = Math.round((tm.reduce((s, t) => s + t, 0) / 12) * 100) / 100;
    const pAnnual = round1(pr.reduce((s, p) => s + p, 0));
    yield [id, site.id, year, tAnnual, pAnnual, ...tm, ...pr, yearsGrown];
  }
}

/** what identifies one table: a table made from the same key is the same table */
function keyOf(n, seed) {
  return JSON.stringify({ generator: GENERATOR_VERSION, rows: n, seed });
}

/** the table's columns; `real` is SQLite's REAL or PostgreSQL's DOUBLE PRECISION (both 8 bytes) */
const ddlColumns = (real) =>
  COLUMNS.map((c) =>
    c === 'id'
      ? 'id INTEGER PRIMARY KEY'
      : ['site', 'year', 'years_grown'].includes(c)
        ? `${c} INTEGER NOT NULL`
        : `${c} ${real} NOT NULL`,
  ).join(', ');

/** Writes DIR/corn-yield.sqlite unless it holds this key already; returns its path and checksum. */
export function writeSqlite(dir, n, seed) {
  const path = join(dir, FILE);
  const key = keyOf(n, seed);
  if (existsSync(path)) {
    try {
      const db = new Database(path, { readonly: true });
      const row = db.prepare('SELECT key, sha256 FROM study_meta').get();
      db.close();
      if (row?.key === key) return { path, sha256: row.sha256, written: false };
    } catch {
      // not ours or damaged: written again below
    }
  }
  mkdirSync(dir, { recursive: true });
  const tmp = `${path}.${process.pid}.tmp`;
  rmSync(tmp, { force: true });
  const db = new Database(tmp);
  // rollback journal, not WAL: a WAL file could not be read from a read-only volume
  db.pragma('journal_mode = DELETE');
  db.exec(`CREATE TABLE ${TABLE} (${ddlColumns('REAL')})`);
  db.exec('CREATE TABLE study_meta (key TEXT NOT NULL, sha256 TEXT NOT NULL)');
  const insert = db.prepare(`INSERT INTO ${TABLE} VALUES (${COLUMNS.map(() => '?').join(', ')})`);
  const hash = createHash('sha256');
  db.transaction(() => {
    for (const r of rows(n, seed)) {
      insert.run(r);
      hash.update(`${r.join(',')}\n`);
    }
  })();
  const sha256 = hash.digest('hex');
  db.prepare('INSERT INTO study_meta VALUES (?, ?)').run(key, sha256);
  db.exec('VACUUM');
  db.close();
  renameSync(tmp, path);
  return { path, sha256, written: true };
}

/** Creates the URL's database when missing (two loaders at once: one creates, the other finds it). */
async function ensureDatabase(url) {
  const u = new URL(url);
  const name = decodeURIComponent(u.pathname.slice(1));
  if (!/^[a-z_][a-z0-9_]{0,62}$/.test(name)) throw new Error(`--pg: database name ${JSON.stringify(name)} must be lowercase letters, digits and _`);
  u.pathname = '/postgres';
  const c = new pg.Client({ connectionString: u.toString() });
  await c.connect();
  try {
    const { rowCount } = await c.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (rowCount === 0) {
      try {
        await c.query(`CREATE DATABASE ${name}`);
      } catch (e) {
        // 42P04 duplicate_database, 23505: the same race caught by the catalog's unique index
        if (e.code !== '42P04' && e.code !== '23505') throw e;
      }
    }
  } finally {
    await c.end();
  }
}

/** Loads the same rows into PostgreSQL at `url` unless its study_meta holds this key already. */
export async function loadPostgres(url, n, seed, sha256) {
  await ensureDatabase(url);
  const key = keyOf(n, seed);
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    const have = await c
      .query('SELECT key FROM study_meta')
      .then((r) => r.rows[0]?.key)
      .catch(() => undefined);
    if (have === key) return false;
    // one transaction: a reader sees the old table or the new one, never half of it
    await c.query('BEGIN');
    await c.query('SELECT pg_advisory_xact_lock(14014)');
    await c.query(`DROP TABLE IF EXISTS ${TABLE}, study_meta`);
    await c.query(`CREATE TABLE ${TABLE} (${ddlColumns('DOUBLE PRECISION')})`);
    await c.query('CREATE TABLE study_meta (key TEXT NOT NULL, sha256 TEXT NOT NULL)');
    const batch = 2000; // 2000 × 29 parameters stays under PostgreSQL's 65535
    let buf = [];
    const flush = async () => {
      if (buf.length === 0) return;
      const values = buf
        .map((_, i) => `(${COLUMNS.map((__, j) => `$${i * COLUMNS.length + j + 1}`).join(', ')})`)
        .join(', ');
      await c.query(`INSERT INTO ${TABLE} VALUES ${values}`, buf.flat());
      buf = [];
    };
    for (const r of rows(n, seed)) {
      buf.push(r);
      if (buf.length === batch) await flush();
    }
    await flush();
    await c.query('INSERT INTO study_meta VALUES ($1, $2)', [key, sha256]);
    await c.query(`ANALYZE ${TABLE}`).catch(() => {});
    await c.query('COMMIT');
    return true;
  } catch (e) {
    await c.query('ROLLBACK').catch(() => {});
    throw e;
  } finally {
    await c.end();
  }
}

export const DEFAULT_PG = 'postgres://postgres@127.0.0.1:5432/agni_study';

async function main() {
  const { values } = parseArgs({
    options: {
      out: { type: 'string', default: 'study-data' },
      rows: { type: 'string', default: '40000' },
      seed: { type: 'string', default: '14' },
      pg: { type: 'string', default: process.env.STUDY_PG_URL ?? DEFAULT_PG },
      'no-pg': { type: 'boolean', default: false },
    },
  });
  const n = Number(values.rows);
  const seed = Number(values.seed);
  if (!Number.isInteger(n) || n < 100 || n > 10_000_000) throw new Error('--rows: an integer from 100 to 10000000');
  if (!Number.isInteger(seed) || seed < 0) throw new Error('--seed: a non-negative integer');
  const t0 = performance.now();
  const out = resolve(values.out);
  const sq = writeSqlite(out, n, seed);
  let pgLoaded = 'skipped (--no-pg)';
  if (!values['no-pg']) pgLoaded = (await loadPostgres(values.pg, n, seed, sq.sha256)) ? 'loaded' : 'already there';
  const ms = Math.round(performance.now() - t0);
  const where = values['no-pg'] ? '' : `, PostgreSQL ${new URL(values.pg).pathname.slice(1)}.${TABLE}: ${pgLoaded}`;
  console.log(`${sq.path}: ${n} rows, sha256 ${sq.sha256.slice(0, 12)} (${sq.written ? 'written' : 'already there'})${where}, ${ms} ms`);
}

if (import.meta.url === `file://${process.argv[1]}`)
  main().catch((e) => {
    console.error(`make-data: ${e.message}`);
    process.exit(1);
  });
