/**
 * What each trigger did last: when it fired, which invocation that started and how it ended.
 * One row per (function, trigger index) of the live version; rows follow deploys and removals.
 */
import type { Kysely } from 'kysely';
import type { Database } from './schema.js';

export interface TriggerStateRow {
  function: string;
  index: number;
  kind: string;
  /** the trigger as deployed (without secrets); a changed spec starts a fresh row */
  spec: string;
  fires: number;
  lastFiredAt: number | null;
  lastInvocationId: string | null;
  lastStatus: string | null;
  lastError: string | null;
}

export interface TriggerStateRepo {
  /** keeps the rows of `fn` whose spec is unchanged, starts fresh ones for the rest, drops extra rows */
  sync(fn: string, triggers: { kind: string; spec: string }[]): Promise<void>;
  /** counts a fire; its outcome becomes the last one unless a later fire was recorded already */
  fired(
    fn: string,
    index: number,
    at: number,
    outcome: { invocationId: string | null; status: string; error: string | null },
  ): Promise<void>;
  /**
   * claims cron tick `at` (ms) of trigger `index` of `fn` for this server: true for exactly one
   * claimer of a tick however many servers ask, so each tick fires once across servers
   */
  claimTick(fn: string, index: number, at: number): Promise<boolean>;
  /** how the invocation a trigger started last ended (no-op when a later fire replaced it) */
  settled(invocationId: string, status: string, error: string | null): Promise<void>;
  list(): Promise<TriggerStateRow[]>;
}

/** claims of ticks older than this are dropped as new ones are made: no server fires a tick that late */
const TICKS_KEPT_MS = 24 * 3600_000;

export class SqlTriggerStateRepo implements TriggerStateRepo {
  constructor(
    private readonly db: Kysely<Database>,
    /** this server instance (the store's owner): who claimed a tick */
    private readonly owner = 'embedded',
  ) {}

  async claimTick(fn: string, index: number, at: number): Promise<boolean> {
    const now = Date.now();
    // One insert on the tick's key: of two servers, the second finds the row and inserts nothing.
    const r = await this.db
      .insertInto('cron_ticks')
      .values({ function: fn, idx: index, tick_at: at, claimed_by: this.owner, claimed_at: now })
      .onConflict((oc) => oc.columns(['function', 'idx', 'tick_at']).doNothing())
      .executeTakeFirst();
    const won = Number(r.numInsertedOrUpdatedRows ?? 0) === 1;
    if (won)
      await this.db
        .deleteFrom('cron_ticks')
        .where('function', '=', fn)
        .where('idx', '=', index)
        .where('tick_at', '<', at - TICKS_KEPT_MS)
        .execute();
    return won;
  }

  async sync(fn: string, triggers: { kind: string; spec: string }[]): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      const rows = await trx.selectFrom('trigger_state').selectAll().where('function', '=', fn).execute();
      const byIndex = new Map(rows.map((r) => [Number(r.idx), r]));
      await trx
        .deleteFrom('trigger_state')
        .where('function', '=', fn)
        .where('idx', '>=', triggers.length)
        .execute();
      for (const [index, t] of triggers.entries()) {
        const old = byIndex.get(index);
        if (old && old.spec === t.spec && old.kind === t.kind) continue;
        if (old)
          await trx.deleteFrom('trigger_state').where('function', '=', fn).where('idx', '=', index).execute();
        await trx
          .insertInto('trigger_state')
          .values({
            function: fn,
            idx: index,
            kind: t.kind,
            spec: t.spec,
            fires: 0,
            last_fired_at: null,
            last_invocation_id: null,
            last_status: null,
            last_error: null,
          })
          .execute();
      }
    });
  }

  async fired(
    fn: string,
    index: number,
    at: number,
    o: { invocationId: string | null; status: string; error: string | null },
  ): Promise<void> {
    // One statement: concurrent fires (another connection, another server) may commit out of
    // their `at` order; each is counted, and only the latest one's outcome is kept.
    await this.db
      .updateTable('trigger_state')
      .set((eb) => {
        const later = eb.or([eb('last_fired_at', 'is', null), eb('last_fired_at', '<=', at)]);
        return {
          fires: eb('fires', '+', 1),
          last_fired_at: eb.case().when(later).then(at).else(eb.ref('last_fired_at')).end(),
          last_invocation_id: eb
            .case()
            .when(later)
            .then(eb.val(o.invocationId))
            .else(eb.ref('last_invocation_id'))
            .end(),
          last_status: eb.case().when(later).then(eb.val(o.status)).else(eb.ref('last_status')).end(),
          last_error: eb.case().when(later).then(eb.val(o.error)).else(eb.ref('last_error')).end(),
        };
      })
      .where('function', '=', fn)
      .where('idx', '=', index)
      .execute();
  }

  async settled(invocationId: string, status: string, error: string | null): Promise<void> {
    // Every async settle comes here, nearly all of them no trigger's (a job's items): a read finds
    // that out without a write transaction (SQLite takes its write lock even for an update that
    // matches nothing). The update's own condition still decides, should a fire land in between.
    const last = await this.db
      .selectFrom('trigger_state')
      .select('idx')
      .where('last_invocation_id', '=', invocationId)
      .executeTakeFirst();
    if (!last) return;
    await this.db
      .updateTable('trigger_state')
      .set({ last_status: status, last_error: error })
      .where('last_invocation_id', '=', invocationId)
      .execute();
  }

  async list(): Promise<TriggerStateRow[]> {
    const rows = await this.db
      .selectFrom('trigger_state')
      .selectAll()
      .orderBy('function')
      .orderBy('idx')
      .execute();
    return rows.map((r) => ({
      function: r.function,
      index: Number(r.idx),
      kind: r.kind,
      spec: r.spec,
      fires: Number(r.fires),
      lastFiredAt: r.last_fired_at === null ? null : Number(r.last_fired_at),
      lastInvocationId: r.last_invocation_id,
      lastStatus: r.last_status,
      lastError: r.last_error,
    }));
  }
}
