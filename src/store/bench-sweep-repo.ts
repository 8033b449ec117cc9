/**
 * Published sweep summaries (`agni bench sweep --publish`) in the state store, so every server of
 * a cluster shows the same latest sweep. Only the newest KEEP are kept: the dashboard shows the
 * latest, and a summary is a few hundred kB at most.
 */
import type { Kysely } from 'kysely';
import { newId } from '../core/ids.js';
import type { Database } from './schema.js';

export const KEEP_SWEEPS = 20;

export interface StoredSweep {
  id: string;
  function: string;
  createdAt: number;
  /** the summary as published (JSON) */
  summary: unknown;
}

export interface BenchSweepRepository {
  add(fn: string, summary: unknown): Promise<StoredSweep>;
  /** the newest, or undefined when none was published */
  latest(): Promise<StoredSweep | undefined>;
}

export class SqlBenchSweepRepository implements BenchSweepRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number = Date.now,
  ) {}

  async add(fn: string, summary: unknown): Promise<StoredSweep> {
    const row = {
      id: newId('sweep'),
      function: fn,
      summary: JSON.stringify(summary),
      created_at: this.now(),
    };
    await this.db.insertInto('bench_sweeps').values(row).execute();
    const old = await this.db
      .selectFrom('bench_sweeps')
      .select('id')
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .offset(KEEP_SWEEPS)
      .limit(1000)
      .execute();
    if (old.length > 0)
      await this.db
        .deleteFrom('bench_sweeps')
        .where(
          'id',
          'in',
          old.map((r) => r.id),
        )
        .execute();
    return { id: row.id, function: fn, createdAt: row.created_at, summary };
  }

  async latest(): Promise<StoredSweep | undefined> {
    const r = await this.db
      .selectFrom('bench_sweeps')
      .selectAll()
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(1)
      .executeTakeFirst();
    return (
      r && { id: r.id, function: r.function, createdAt: Number(r.created_at), summary: JSON.parse(r.summary) }
    );
  }
}
