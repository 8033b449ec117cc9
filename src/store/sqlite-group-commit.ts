/**
 * SQLite's `lazy` invocation writes (store.ts WriteOptions), committed together: every write asked
 * for in one turn of the event loop goes into one transaction. A sync call writes its record once
 * or twice (whole, or an insert and its final update); each write as its own commit cost as much as
 * the statement itself, and Kysely's per-query machinery as much again (a profile of warm calls
 * under load), while several calls' writes are always pending at once under load.
 *
 * Each promise settles once its write is committed, so an answer sent after it is readable at once
 * (read-your-writes). A write that fails (say, a duplicate id) fails alone: the batch is rolled back
 * and its writes run again one by one. A batch never lands inside a transaction Kysely has open on
 * the same connection (it would be rolled back with it): it then waits, holding Kysely's connection.
 * So no write may be asked for (and awaited) from inside such a transaction: it would wait for its
 * end. Only sync calls' records come here (the Invoker's lazy writes), never from a transaction.
 */
import type { Database } from 'better-sqlite3';
import type { CompiledQuery, Kysely } from 'kysely';

interface Pending {
  query: CompiledQuery;
  resolve: () => void;
  reject: (e: unknown) => void;
}

export class SqliteGroupCommit {
  private queue: Pending[] = [];
  private flushing: Promise<void> | undefined;

  constructor(
    /** the Kysely instance over `sqlite`: its connection is held while a batch commits */
    private readonly kysely: Kysely<unknown>,
    /** the same connection, raw (with its statement cache: statement-cache.ts) */
    private readonly sqlite: Database,
  ) {}

  run(query: CompiledQuery): Promise<void> {
    return new Promise((resolve, reject) => {
      this.queue.push({ query, resolve, reject });
      if (this.queue.length === 1 && !this.flushing) setImmediate(() => this.flush());
    });
  }

  /** resolves once every write asked for so far is committed (or failed) */
  async drain(): Promise<void> {
    while (this.flushing || this.queue.length > 0) await (this.flushing ?? this.flush());
  }

  private flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    const batch = this.queue;
    this.queue = [];
    if (batch.length === 0) return Promise.resolve();
    // Statements run synchronously: with no transaction open now, none can open before this ends.
    if (!this.sqlite.inTransaction) {
      this.commit(batch);
      return Promise.resolve();
    }
    // Kysely has one open on this connection: wait for it to end, holding the connection after it.
    this.flushing = this.kysely
      .connection()
      .execute(async () => this.commit(batch))
      .catch((e: unknown) => {
        for (const p of batch) p.reject(e);
      })
      .finally(() => {
        this.flushing = undefined;
        // Writes asked for meanwhile go in the next batch.
        if (this.queue.length > 0) setImmediate(() => this.flush());
      });
    return this.flushing;
  }

  private commit(batch: Pending[]): void {
    if (batch.length > 1) {
      try {
        this.sqlite.transaction(() => {
          for (const p of batch) this.exec(p.query);
        })();
        for (const p of batch) p.resolve();
        return;
      } catch {
        // One of them failed: each on its own below, so each gets its own outcome.
      }
    }
    for (const p of batch) {
      try {
        this.exec(p.query);
        p.resolve();
      } catch (e) {
        p.reject(e);
      }
    }
  }

  private exec(q: CompiledQuery): void {
    this.sqlite.prepare(q.sql).run(q.parameters as unknown[]);
  }
}
