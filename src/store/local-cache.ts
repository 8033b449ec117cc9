/**
 * Rows this process reads on every call (a function's live version, whether any API token exists)
 * kept in memory while nothing can have changed them. Correct only where this process sees every
 * change: its own writes clear the cache, and `stamp` must change whenever anybody else commits.
 * SQLite gives that stamp (`PRAGMA data_version`, which moves on every commit by another connection:
 * a second process on the same file); PostgreSQL has no such thing, so its stores get no cache: a
 * server of a cluster cannot know, without asking, what another server changed.
 */

/** a value that differs whenever a connection other than this process's has committed */
export type ChangeStamp = () => number;

export class LocalCache<K, V> {
  private readonly rows = new Map<K, V>();
  private stampSeen: number | undefined;
  /** bumped by every clear(): a read that started before one may not fill the cache */
  private generation = 0;

  constructor(
    private readonly stamp: ChangeStamp,
    private readonly max = 1024,
  ) {}

  /** writes of this process under way: reads go to the store meanwhile, and keep nothing */
  private writing = 0;

  async get(key: K, load: () => Promise<V>): Promise<V> {
    if (this.writing > 0) return load();
    const now = this.stamp();
    if (now !== this.stampSeen) {
      this.rows.clear();
      this.stampSeen = now;
    }
    if (this.rows.has(key)) return this.rows.get(key) as V;
    const gen = this.generation;
    const v = await load();
    // Filled only when no write of ours nor of anybody else's came in between.
    if (gen === this.generation && this.stamp() === now) {
      if (this.rows.size >= this.max) this.rows.delete(this.rows.keys().next().value as K);
      this.rows.set(key, v);
    }
    return v;
  }

  /**
   * Runs a write of this process that may change a cached row. From its start to its end no read
   * is served from memory nor kept: a row read before its commit and served after it would be
   * stale (between the commit and the end of `write` other calls run).
   */
  async around<T>(write: () => Promise<T>): Promise<T> {
    this.clear();
    this.writing++;
    try {
      return await write();
    } finally {
      this.writing--;
      this.clear();
    }
  }

  private clear(): void {
    this.generation++;
    this.rows.clear();
  }
}
