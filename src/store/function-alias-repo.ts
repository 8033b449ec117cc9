/** Function aliases in the state store: `NAME@prod` runs the version the alias prod points to. */
import type { Kysely, Selectable } from 'kysely';
import type { AliasRoute, AliasSplit } from '../core/alias-split.js';
import type { Database, FunctionAliasTable } from './schema.js';

export interface FunctionAlias extends AliasRoute {
  function: string;
  name: string;
  createdAt: number;
  updatedAt: number;
}

export interface FunctionAliasRepository {
  /** creates or replaces the alias; the caller checked that the versions exist */
  set(fn: string, name: string, route: AliasRoute): Promise<FunctionAlias>;
  get(fn: string, name: string): Promise<FunctionAlias | undefined>;
  list(fn: string): Promise<FunctionAlias[]>;
  /** true when it existed */
  remove(fn: string, name: string): Promise<boolean>;
}

function fromRow(r: Selectable<FunctionAliasTable['function_aliases']>): FunctionAlias {
  const split: AliasSplit | undefined =
    r.split_version === null || r.split_weight === null
      ? undefined
      : { version: Number(r.split_version), weight: Number(r.split_weight) };
  return {
    function: r.function,
    name: r.name,
    version: Number(r.version),
    ...(split ? { split } : {}),
    createdAt: Number(r.created_at),
    updatedAt: Number(r.updated_at),
  };
}

export class SqlFunctionAliasRepository implements FunctionAliasRepository {
  constructor(
    private readonly db: Kysely<Database>,
    private readonly now: () => number = Date.now,
  ) {}

  async set(fn: string, name: string, route: AliasRoute): Promise<FunctionAlias> {
    const now = this.now();
    const values = {
      version: route.version,
      split_version: route.split?.version ?? null,
      split_weight: route.split?.weight ?? null,
      updated_at: now,
    };
    await this.db
      .insertInto('function_aliases')
      .values({ function: fn, name, created_at: now, ...values })
      .onConflict((oc) => oc.columns(['function', 'name']).doUpdateSet(values))
      .execute();
    return (await this.get(fn, name))!;
  }

  async get(fn: string, name: string): Promise<FunctionAlias | undefined> {
    const r = await this.db
      .selectFrom('function_aliases')
      .selectAll()
      .where('function', '=', fn)
      .where('name', '=', name)
      .executeTakeFirst();
    return r ? fromRow(r) : undefined;
  }

  async list(fn: string): Promise<FunctionAlias[]> {
    const rows = await this.db
      .selectFrom('function_aliases')
      .selectAll()
      .where('function', '=', fn)
      .orderBy('name')
      .execute();
    return rows.map(fromRow);
  }

  async remove(fn: string, name: string): Promise<boolean> {
    const r = await this.db
      .deleteFrom('function_aliases')
      .where('function', '=', fn)
      .where('name', '=', name)
      .executeTakeFirst();
    return Number(r.numDeletedRows) > 0;
  }
}
