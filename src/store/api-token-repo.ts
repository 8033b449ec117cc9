/** Named API tokens in the state store. Only each token's sha256 is stored, never the token. */
import type { Kysely, Selectable } from 'kysely';
import { type ChangeStamp, LocalCache } from './local-cache.js';
import type { ApiTokenTable, Database } from './schema.js';

export interface ApiTokenRow {
  name: string;
  tokenHash: string;
  /** scope strings as given (`invoke:fn1,fn2`) */
  scopes: string[];
  createdAt: number;
  lastUsedAt: number | null;
}

export interface ApiTokenRepository {
  /** false when the name (or, against all odds, the hash) is taken */
  insert(row: Omit<ApiTokenRow, 'lastUsedAt'>): Promise<boolean>;
  list(): Promise<ApiTokenRow[]>;
  byHash(hash: string): Promise<ApiTokenRow | undefined>;
  /** true when one was removed */
  remove(name: string): Promise<boolean>;
  any(): Promise<boolean>;
  touch(name: string, at: number): Promise<void>;
}

function fromRow(r: Selectable<ApiTokenTable['api_tokens']>): ApiTokenRow {
  return {
    name: r.name,
    tokenHash: r.token_hash,
    scopes: JSON.parse(r.scopes) as string[],
    createdAt: Number(r.created_at),
    lastUsedAt: r.last_used_at === null ? null : Number(r.last_used_at),
  };
}

export class SqlApiTokenRepository implements ApiTokenRepository {
  /** whether any token exists, asked by every request of a server without a server token */
  private readonly anyCache: LocalCache<'any', boolean> | undefined;

  constructor(
    private readonly db: Kysely<Database>,
    /** SQLite's (local-cache.ts): `any()` comes from memory while nobody else wrote */
    changeStamp?: ChangeStamp,
  ) {
    this.anyCache = changeStamp ? new LocalCache(changeStamp) : undefined;
  }

  insert(row: Omit<ApiTokenRow, 'lastUsedAt'>): Promise<boolean> {
    return this.anyCache ? this.anyCache.around(() => this.insertRow(row)) : this.insertRow(row);
  }

  private async insertRow(row: Omit<ApiTokenRow, 'lastUsedAt'>): Promise<boolean> {
    const r = await this.db
      .insertInto('api_tokens')
      .values({
        name: row.name,
        token_hash: row.tokenHash,
        scopes: JSON.stringify(row.scopes),
        created_at: row.createdAt,
        last_used_at: null,
      })
      .onConflict((oc) => oc.doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  async list(): Promise<ApiTokenRow[]> {
    return (await this.db.selectFrom('api_tokens').selectAll().orderBy('name').execute()).map(fromRow);
  }

  async byHash(hash: string): Promise<ApiTokenRow | undefined> {
    const r = await this.db
      .selectFrom('api_tokens')
      .selectAll()
      .where('token_hash', '=', hash)
      .executeTakeFirst();
    return r ? fromRow(r) : undefined;
  }

  remove(name: string): Promise<boolean> {
    const remove = async () => {
      const r = await this.db.deleteFrom('api_tokens').where('name', '=', name).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    };
    return this.anyCache ? this.anyCache.around(remove) : remove();
  }

  any(): Promise<boolean> {
    const read = async () =>
      (await this.db.selectFrom('api_tokens').select('name').limit(1).executeTakeFirst()) !== undefined;
    return this.anyCache ? this.anyCache.get('any', read) : read();
  }

  async touch(name: string, at: number): Promise<void> {
    await this.db.updateTable('api_tokens').set({ last_used_at: at }).where('name', '=', name).execute();
  }
}
