/** Access keys in the state store. Secrets are stored sealed; this repository never sees them in clear. */
import type { Kysely, Selectable } from 'kysely';
import type { AccessKeyTable, Database } from './schema.js';

export interface AccessKeyRow {
  name: string;
  accessKeyId: string;
  secretSealed: string;
  createdAt: number;
  lastUsedAt: number | null;
}

export interface AccessKeyRepository {
  /** false when the name or the access key id is taken */
  insert(row: Omit<AccessKeyRow, 'lastUsedAt'>): Promise<boolean>;
  list(): Promise<AccessKeyRow[]>;
  byAccessKeyId(id: string): Promise<AccessKeyRow | undefined>;
  /** true when one was removed */
  remove(name: string): Promise<boolean>;
  any(): Promise<boolean>;
  touch(id: string, at: number): Promise<void>;
}

function fromRow(r: Selectable<AccessKeyTable['access_keys']>): AccessKeyRow {
  return {
    name: r.name,
    accessKeyId: r.access_key_id,
    secretSealed: r.secret_sealed,
    createdAt: Number(r.created_at),
    lastUsedAt: r.last_used_at === null ? null : Number(r.last_used_at),
  };
}

export class SqlAccessKeyRepository implements AccessKeyRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async insert(row: Omit<AccessKeyRow, 'lastUsedAt'>): Promise<boolean> {
    const r = await this.db
      .insertInto('access_keys')
      .values({
        name: row.name,
        access_key_id: row.accessKeyId,
        secret_sealed: row.secretSealed,
        created_at: row.createdAt,
        last_used_at: null,
      })
      .onConflict((oc) => oc.doNothing())
      .executeTakeFirst();
    return Number(r.numInsertedOrUpdatedRows ?? 0) === 1;
  }

  async list(): Promise<AccessKeyRow[]> {
    const rows = await this.db.selectFrom('access_keys').selectAll().orderBy('name').execute();
    return rows.map(fromRow);
  }

  async byAccessKeyId(id: string): Promise<AccessKeyRow | undefined> {
    const r = await this.db
      .selectFrom('access_keys')
      .selectAll()
      .where('access_key_id', '=', id)
      .executeTakeFirst();
    return r ? fromRow(r) : undefined;
  }

  async remove(name: string): Promise<boolean> {
    const r = await this.db.deleteFrom('access_keys').where('name', '=', name).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }

  async any(): Promise<boolean> {
    const r = await this.db.selectFrom('access_keys').select('name').limit(1).executeTakeFirst();
    return r !== undefined;
  }

  async touch(id: string, at: number): Promise<void> {
    await this.db
      .updateTable('access_keys')
      .set({ last_used_at: at })
      .where('access_key_id', '=', id)
      .execute();
  }
}
