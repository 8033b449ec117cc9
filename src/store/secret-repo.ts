/** Function secrets in the state store. Values are stored sealed; this repository never sees them in clear. */
import type { Kysely, Selectable } from 'kysely';
import type { Database, SecretTable } from './schema.js';

export interface SecretRow {
  name: string;
  valueSealed: string;
  size: number;
  createdAt: number;
  updatedAt: number;
}

export interface SecretRepository {
  /** inserts or replaces the value (created_at kept on replace); true when it was new */
  put(row: Omit<SecretRow, 'createdAt' | 'updatedAt'>, at: number): Promise<boolean>;
  get(name: string): Promise<SecretRow | undefined>;
  list(): Promise<SecretRow[]>;
  /** true when one was removed */
  remove(name: string): Promise<boolean>;
}

function fromRow(r: Selectable<SecretTable['secrets']>): SecretRow {
  return {
    name: r.name,
    valueSealed: r.value_sealed,
    size: Number(r.size),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

export class SqlSecretRepository implements SecretRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async put(row: Omit<SecretRow, 'createdAt' | 'updatedAt'>, at: number): Promise<boolean> {
    const r = await this.db
      .insertInto('secrets')
      .values({
        name: row.name,
        value_sealed: row.valueSealed,
        size: row.size,
        created_at: at,
        updated_at: at,
      })
      .onConflict((oc) => oc.doNothing())
      .executeTakeFirst();
    if (Number(r.numInsertedOrUpdatedRows ?? 0) === 1) return true;
    await this.db
      .updateTable('secrets')
      .set({ value_sealed: row.valueSealed, size: row.size, updated_at: at })
      .where('name', '=', row.name)
      .execute();
    return false;
  }

  async get(name: string): Promise<SecretRow | undefined> {
    const r = await this.db.selectFrom('secrets').selectAll().where('name', '=', name).executeTakeFirst();
    return r ? fromRow(r) : undefined;
  }

  async list(): Promise<SecretRow[]> {
    return (await this.db.selectFrom('secrets').selectAll().orderBy('name').execute()).map(fromRow);
  }

  async remove(name: string): Promise<boolean> {
    const r = await this.db.deleteFrom('secrets').where('name', '=', name).executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
}
