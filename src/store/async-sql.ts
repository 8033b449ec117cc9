/**
 * Durable state of async invocations: attempts, next attempt time, idempotency key, callback
 * delivery and the dead-letter flag. The invocation itself (status, phases, output tails) stays
 * in the invocations table, so `agni inspect` shows async and sync invocations alike.
 */
import type { ExpressionBuilder, Kysely, Selectable } from 'kysely';
import { parseStoredContext, type RequestContext } from '../core/request-context.js';
import { type InputRef, refOf, refText } from '../core/volumes.js';
import type { AsyncTable, Database } from './schema.js';
import { invocationRow, invocationSet, toInvocation } from './sql-store.js';
import type { InvocationPatch, InvocationRecord } from './store.js';

export type CallbackState = 'pending' | 'delivered' | 'failed';

export interface AsyncState {
  id: string;
  function: string;
  attempts: number;
  maxAttempts: number;
  nextAttemptAt: number | null;
  idempotencyKey: string | null;
  callbackUrl: string | null;
  callbackState: CallbackState | null;
  callbackAttempts: number;
  callbackNextAt: number | null;
  callbackError: string | null;
  deadLetter: boolean;
  source: string;
  settledAt: number | null;
  createdAt: number;
  /**
   * the HTTP request that submitted it (webhooks, /async), given to every attempt (a per-call
   * timeout is on the invocation's record: every attempt runs with it)
   */
  request: RequestContext | null;
  /** a by-reference input (a file on a volume): every attempt gets it; the payload is empty */
  input: InputRef | null;
  /** the payload is this range of a blob the invocation does not own (a job's inputs); null: its own blob */
  payloadRef: PayloadRef | null;
  /** stdout goes to this file on a read-write volume, not to the queue's store (a job's `output_to`) */
  outputTo: InputRef | null;
  /** who holds the current attempt; null when nobody does */
  owner: string | null;
  leaseUntil: number | null;
}

/** bytes of a stored blob: where a job item's payload already is, so it is not copied per item */
export interface PayloadRef {
  key: string;
  offset: number;
  length: number;
}

function payloadRefOf(text: string | null): PayloadRef | null {
  if (!text) return null;
  const v = JSON.parse(text) as PayloadRef;
  return { key: String(v.key), offset: Number(v.offset), length: Number(v.length) };
}

/** An async invocation's state as submitted: nothing attempted, unowned, no callback sent yet. */
export function newAsyncState(over: Partial<AsyncState> & Pick<AsyncState, 'id' | 'function'>): AsyncState {
  const now = Date.now();
  return {
    attempts: 0,
    maxAttempts: 1,
    nextAttemptAt: now,
    idempotencyKey: null,
    callbackUrl: null,
    callbackState: null,
    callbackAttempts: 0,
    callbackNextAt: null,
    callbackError: null,
    deadLetter: false,
    source: 'api',
    settledAt: null,
    createdAt: now,
    request: null,
    input: null,
    payloadRef: null,
    outputTo: null,
    owner: null,
    leaseUntil: null,
    ...over,
  };
}

/** who claims an attempt and until when it holds it (ms since the epoch), as of `now` */
export interface Lease {
  owner: string;
  now: number;
  until: number;
}

export type AsyncPatch = Partial<
  Omit<
    AsyncState,
    | 'id'
    | 'function'
    | 'createdAt'
    | 'idempotencyKey'
    | 'request'
    | 'input'
    | 'payloadRef'
    | 'outputTo'
    | 'owner'
    | 'leaseUntil'
  >
> & {
  /** release: the attempt ended (retry scheduled, settled or stopped), nobody holds it now */
  release?: true;
  /** its stdout, small enough to keep in the store (written in the same transaction, replacing any) */
  output?: Buffer;
  /**
   * the invocation record's status and error, written in the same transaction: an attempt's end
   * (a retry queued, a stop, a settle) is one write, so no outage can leave half of it
   */
  record?: Pick<InvocationPatch, 'status' | 'error'>;
};

export interface AsyncRepo {
  /** stores both rows in one transaction; false when the idempotency key is already taken */
  create(inv: InvocationRecord, st: AsyncState): Promise<boolean>;
  get(id: string): Promise<AsyncState | undefined>;
  /** its state and its invocation record, read together (an attempt's first read) */
  getWithRecord(id: string): Promise<{ state: AsyncState; record: InvocationRecord } | undefined>;
  /**
   * Takes the next attempt of a queued invocation for `lease.owner` until `lease.until`, by
   * compare-and-set: marks it running and counts the attempt, in one transaction. Returns the
   * attempt number, or undefined when another owner holds an unexpired lease on it, it is not
   * queued, or it is settled: of two claimers, exactly one gets it.
   */
  claim(id: string, lease: Lease): Promise<number | undefined>;
  /**
   * Takes over an attempt still marked running whose owner's lease expired (its server died
   * mid-run, and the work queue delivered it again): by compare-and-set on the owner and lease,
   * for `lease.owner`, keeping the attempt number (an interrupted attempt is not counted again).
   * Undefined when it is not running, is settled, or its lease is still held: of two takers,
   * exactly one gets it. Without this, only a restart's `requeueInterrupted` freed such attempts.
   */
  takeOver(id: string, lease: Lease): Promise<number | undefined>;
  /**
   * Takes an attempt that ended but whose end was never written (the store failed between the
   * function's exit and its retry or settle): unsettled, held by nobody live, its record neither
   * queued nor running. It ran, so it counts, but one more attempt is owed (as `requeueInterrupted`
   * does at a start). Returns the new attempt's number, marked running for `lease.owner`, or
   * undefined when it is not such an attempt: of two takers, exactly one gets it.
   */
  resumeEnded(id: string, lease: Lease): Promise<number | undefined>;
  /** extends a lease its owner still holds; false when it has been lost (taken over or released) */
  renew(id: string, lease: Lease): Promise<boolean>;
  /** a dead-lettered invocation goes back to the queue with a fresh set of attempts */
  revive(id: string, now: number): Promise<boolean>;
  byKey(key: string): Promise<AsyncState | undefined>;
  /** queued invocations whose next attempt is due, oldest first */
  due(now: number, limit: number, exclude: ReadonlySet<string>): Promise<AsyncState[]>;
  /** unsettled invocations whose owner's lease ran out before `before` (their server died mid-run) */
  expiredLeases(before: number, limit: number): Promise<AsyncState[]>;
  /** the earliest next attempt of any queued invocation */
  nextDueAt(): Promise<number | null>;
  /** invocations accepted and not yet settled (queued, running or waiting for a retry) */
  countUnsettled(): Promise<number>;
  update(id: string, patch: AsyncPatch): Promise<void>;
  /** the stdout stored with `update({ output })`; undefined when none is (none yet, or it is a blob) */
  output(id: string): Promise<Buffer | undefined>;
  /**
   * attempts interrupted by a stop are queued again and not counted; returns how many. Only
   * attempts nobody holds are taken: this owner's own (it restarted, so they are dead), unowned
   * ones, and those whose lease expired; an attempt another live owner runs is left alone.
   */
  requeueInterrupted(now: number, owner: string): Promise<number>;
  deadLetters(q: {
    function?: string;
    limit: number;
  }): Promise<{ state: AsyncState; invocation: InvocationRecord }[]>;
  callbacksDue(now: number, limit: number): Promise<AsyncState[]>;
  nextCallbackAt(): Promise<number | null>;
  /**
   * takes a due callback for one delivery: moves its next time from `seen` (as read) to `until`
   * in one compare-and-set, so of several servers that read it due, exactly one sends it; a
   * sender that dies leaves it to be taken again at `until`
   */
  claimCallback(id: string, seen: number, until: number): Promise<boolean>;
}

type Row = Selectable<AsyncTable['async_invocations']>;

function toState(r: Row): AsyncState {
  const n = (v: number | string | null) => (v === null ? null : Number(v));
  return {
    id: r.id,
    function: r.function,
    attempts: Number(r.attempts),
    maxAttempts: Number(r.max_attempts),
    nextAttemptAt: n(r.next_attempt_at),
    idempotencyKey: r.idempotency_key,
    callbackUrl: r.callback_url,
    callbackState: r.callback_state as CallbackState | null,
    callbackAttempts: Number(r.callback_attempts),
    callbackNextAt: n(r.callback_next_at),
    callbackError: r.callback_error,
    deadLetter: Number(r.dead_letter) === 1,
    source: r.source,
    settledAt: n(r.settled_at),
    createdAt: Number(r.created_at),
    // absent from the dead-letter listing, which does not select it
    request: parseStoredContext(r.request ?? null) ?? null,
    input: refOf(r.input_ref) ?? null,
    payloadRef: payloadRefOf(r.payload_ref ?? null),
    outputTo: refOf(r.output_to) ?? null,
    owner: r.owner ?? null,
    leaseUntil: r.lease_until == null ? null : Number(r.lease_until),
  };
}

function toRow(s: AsyncState): Row {
  return {
    id: s.id,
    function: s.function,
    attempts: s.attempts,
    max_attempts: s.maxAttempts,
    next_attempt_at: s.nextAttemptAt,
    idempotency_key: s.idempotencyKey,
    callback_url: s.callbackUrl,
    callback_state: s.callbackState,
    callback_attempts: s.callbackAttempts,
    callback_next_at: s.callbackNextAt,
    callback_error: s.callbackError,
    dead_letter: s.deadLetter ? 1 : 0,
    source: s.source,
    settled_at: s.settledAt,
    created_at: s.createdAt,
    request: s.request ? JSON.stringify(s.request) : null,
    input_ref: s.input ? refText(s.input) : null,
    payload_ref: s.payloadRef ? JSON.stringify(s.payloadRef) : null,
    output_to: s.outputTo ? refText(s.outputTo) : null,
    owner: s.owner,
    lease_until: s.leaseUntil,
  };
}

const COLUMNS: Record<Exclude<keyof AsyncPatch, 'release' | 'output' | 'record'>, keyof Row> = {
  attempts: 'attempts',
  maxAttempts: 'max_attempts',
  nextAttemptAt: 'next_attempt_at',
  callbackUrl: 'callback_url',
  callbackState: 'callback_state',
  callbackAttempts: 'callback_attempts',
  callbackNextAt: 'callback_next_at',
  callbackError: 'callback_error',
  deadLetter: 'dead_letter',
  source: 'source',
  settledAt: 'settled_at',
};

function isUniqueViolation(e: unknown): boolean {
  const code = (e as { code?: string }).code ?? '';
  // better-sqlite3 and node-postgres spell it differently
  return code === 'SQLITE_CONSTRAINT_UNIQUE' || code === '23505';
}

/** the async row's own columns a read joined with its invocation (`i.*`) takes */
const STATE_COLUMNS = [
  'a.attempts',
  'a.max_attempts',
  'a.next_attempt_at',
  'a.idempotency_key',
  'a.callback_url',
  'a.callback_state',
  'a.callback_attempts',
  'a.callback_next_at',
  'a.callback_error',
  'a.dead_letter',
  'a.source',
  'a.settled_at',
] as const;

export class SqlAsyncRepo implements AsyncRepo {
  constructor(private readonly db: Kysely<Database>) {}

  async create(inv: InvocationRecord, st: AsyncState): Promise<boolean> {
    try {
      await this.db.transaction().execute(async (trx) => {
        await trx.insertInto('invocations').values(invocationRow(inv)).execute();
        await trx.insertInto('async_invocations').values(toRow(st)).execute();
      });
      return true;
    } catch (e) {
      if (isUniqueViolation(e)) return false;
      throw e;
    }
  }

  async getWithRecord(id: string): Promise<{ state: AsyncState; record: InvocationRecord } | undefined> {
    const r = await this.db
      .selectFrom('async_invocations as a')
      .innerJoin('invocations as i', 'i.id', 'a.id')
      .selectAll('i')
      .select([
        ...STATE_COLUMNS,
        'a.request',
        'a.input_ref',
        'a.payload_ref',
        'a.output_to',
        'a.lease_until',
        // both tables have these two
        'a.owner as async_owner',
        'a.created_at as async_created_at',
      ])
      .where('a.id', '=', id)
      .executeTakeFirst();
    if (!r) return undefined;
    const row = { ...r, owner: r.async_owner, created_at: r.async_created_at } as unknown as Row;
    return { state: toState(row), record: toInvocation(r) };
  }

  async get(id: string): Promise<AsyncState | undefined> {
    const r = await this.db
      .selectFrom('async_invocations')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return r ? toState(r) : undefined;
  }

  async claim(id: string, lease: Lease): Promise<number | undefined> {
    return this.db.transaction().execute(async (trx) => {
      // The compare-and-set: the row's own owner and lease are re-checked under its row lock
      // (PostgreSQL re-evaluates them after a concurrent update; SQLite has one writer).
      const r = await trx
        .updateTable('async_invocations')
        .set((eb) => ({ attempts: eb('attempts', '+', 1), owner: lease.owner, lease_until: lease.until }))
        .where('id', '=', id)
        .where('settled_at', 'is', null)
        .where((eb) => eb.or([eb('owner', 'is', null), eb('lease_until', '<', lease.now)]))
        .where('id', 'in', (eb) =>
          eb.selectFrom('invocations').select('id').where('id', '=', id).where('status', '=', 'queued'),
        )
        .returning('attempts')
        .executeTakeFirst();
      if (!r) return undefined;
      await trx.updateTable('invocations').set({ status: 'running' }).where('id', '=', id).execute();
      return Number(r.attempts);
    });
  }

  async takeOver(id: string, lease: Lease): Promise<number | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const r = await trx
        .updateTable('async_invocations')
        .set({ owner: lease.owner, lease_until: lease.until })
        .where('id', '=', id)
        .where('settled_at', 'is', null)
        .where('owner', 'is not', null)
        .where('lease_until', '<', lease.now)
        .where('id', 'in', (eb) =>
          eb.selectFrom('invocations').select('id').where('id', '=', id).where('status', '=', 'running'),
        )
        .returning('attempts')
        .executeTakeFirst();
      if (!r) return undefined;
      await trx
        .updateTable('invocations')
        .set({ error: 'interrupted: its server stopped while it ran; run again elsewhere' })
        .where('id', '=', id)
        .execute();
      return Math.max(1, Number(r.attempts));
    });
  }

  async resumeEnded(id: string, lease: Lease): Promise<number | undefined> {
    return this.db.transaction().execute(async (trx) => {
      const r = await trx
        .updateTable('async_invocations')
        .set((eb) => ({
          attempts: eb
            .case()
            .when('attempts', '<', eb('max_attempts', '-', 1))
            .then(eb('attempts', '+', 1))
            .else(eb.ref('max_attempts'))
            .end(),
          owner: lease.owner,
          lease_until: lease.until,
          next_attempt_at: null,
        }))
        .where('id', '=', id)
        .where('settled_at', 'is', null)
        .where((eb) => eb.or([eb('owner', 'is', null), eb('lease_until', '<', lease.now)]))
        .where((eb) => eb.or([eb('next_attempt_at', 'is', null), eb('next_attempt_at', '<=', lease.now)]))
        .where('id', 'in', (eb) =>
          eb
            .selectFrom('invocations')
            .select('id')
            .where('id', '=', id)
            .where('status', 'not in', ['queued', 'running']),
        )
        .returning('attempts')
        .executeTakeFirst();
      if (!r) return undefined;
      await trx
        .updateTable('invocations')
        .set({
          status: 'running',
          error: 'interrupted: the end of its last attempt was never stored; run again',
        })
        .where('id', '=', id)
        .execute();
      return Number(r.attempts);
    });
  }

  async renew(id: string, lease: Lease): Promise<boolean> {
    const r = await this.db
      .updateTable('async_invocations')
      .set({ lease_until: lease.until })
      .where('id', '=', id)
      .where('owner', '=', lease.owner)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) > 0;
  }

  async revive(id: string, now: number): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      const r = await trx
        .updateTable('async_invocations')
        .set({
          attempts: 0,
          dead_letter: 0,
          settled_at: null,
          next_attempt_at: now,
          owner: null,
          lease_until: null,
        })
        .where('id', '=', id)
        .where('dead_letter', '=', 1)
        .executeTakeFirst();
      if (Number(r.numUpdatedRows) === 0) return false;
      await trx.updateTable('invocations').set({ status: 'queued' }).where('id', '=', id).execute();
      // The failed run's output goes: the new run's is a row or a blob, and a row would win.
      await trx.deleteFrom('async_outputs').where('id', '=', id).execute();
      return true;
    });
  }

  async byKey(key: string): Promise<AsyncState | undefined> {
    const r = await this.db
      .selectFrom('async_invocations')
      .selectAll()
      .where('idempotency_key', '=', key)
      .executeTakeFirst();
    return r ? toState(r) : undefined;
  }

  async due(now: number, limit: number, exclude: ReadonlySet<string>): Promise<AsyncState[]> {
    let q = this.db
      .selectFrom('async_invocations as a')
      .innerJoin('invocations as i', 'i.id', 'a.id')
      .selectAll('a')
      .where('i.status', '=', 'queued')
      .where('a.settled_at', 'is', null)
      .where('a.next_attempt_at', '<=', now);
    if (exclude.size > 0) q = q.where('a.id', 'not in', [...exclude]);
    const rows = await q.orderBy('a.next_attempt_at').orderBy('a.id').limit(limit).execute();
    return rows.map(toState);
  }

  async expiredLeases(before: number, limit: number): Promise<AsyncState[]> {
    const rows = await this.db
      .selectFrom('async_invocations')
      .selectAll()
      .where('settled_at', 'is', null)
      .where('owner', 'is not', null)
      .where('lease_until', '<', before)
      .orderBy('lease_until')
      .limit(limit)
      .execute();
    return rows.map(toState);
  }

  async nextDueAt(): Promise<number | null> {
    const r = await this.db
      .selectFrom('async_invocations as a')
      .innerJoin('invocations as i', 'i.id', 'a.id')
      .select((eb) => eb.fn.min('a.next_attempt_at').as('at'))
      .where('i.status', '=', 'queued')
      .where('a.settled_at', 'is', null)
      .executeTakeFirst();
    return r?.at == null ? null : Number(r.at);
  }

  async countUnsettled(): Promise<number> {
    const r = await this.db
      .selectFrom('async_invocations')
      .select((eb) => eb.fn.countAll().as('n'))
      .where('settled_at', 'is', null)
      .executeTakeFirst();
    return Number(r?.n ?? 0);
  }

  async update(id: string, patch: AsyncPatch): Promise<void> {
    const set: Record<string, unknown> = {};
    if (patch.release) {
      set.owner = null;
      set.lease_until = null;
    }
    for (const [k, v] of Object.entries(patch)) {
      if (v === undefined || k === 'release' || k === 'output' || k === 'record') continue;
      set[COLUMNS[k as keyof typeof COLUMNS]] = typeof v === 'boolean' ? (v ? 1 : 0) : v;
    }
    const { output, record } = patch;
    const recordSet = invocationSet(record ?? {});
    if (output === undefined && Object.keys(recordSet).length === 0) {
      if (Object.keys(set).length === 0) return;
      await this.db.updateTable('async_invocations').set(set).where('id', '=', id).execute();
      return;
    }
    // The output, the record's status and the end that makes them current land together.
    await this.db.transaction().execute(async (trx) => {
      if (output !== undefined)
        await trx
          .insertInto('async_outputs')
          .values({ id, output })
          // a later attempt (after a revive from the dead letters) replaces what the last one left
          .onConflict((oc) => oc.column('id').doUpdateSet({ output }))
          .execute();
      if (Object.keys(recordSet).length > 0)
        await trx.updateTable('invocations').set(recordSet).where('id', '=', id).execute();
      if (Object.keys(set).length > 0)
        await trx.updateTable('async_invocations').set(set).where('id', '=', id).execute();
    });
  }

  async output(id: string): Promise<Buffer | undefined> {
    const r = await this.db
      .selectFrom('async_outputs')
      .select('output')
      .where('id', '=', id)
      .executeTakeFirst();
    return r ? Buffer.from(r.output) : undefined;
  }

  async requeueInterrupted(now: number, owner: string): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      const takeable = (eb: ExpressionBuilder<Database & { a: AsyncTable['async_invocations'] }, 'a'>) =>
        eb.or([eb('a.owner', 'is', null), eb('a.owner', '=', owner), eb('a.lease_until', '<', now)]);
      const rows = await trx
        .selectFrom('async_invocations as a')
        .innerJoin('invocations as i', 'i.id', 'a.id')
        .select(['a.id', 'i.status'])
        .where('a.settled_at', 'is', null)
        .where('i.status', '!=', 'queued')
        .where(takeable)
        .execute();
      // Queued ones this owner held when it stopped (between an attempt and its release).
      await trx
        .updateTable('async_invocations')
        .set({ owner: null, lease_until: null })
        .where('owner', '=', owner)
        .where('settled_at', 'is', null)
        .execute();
      if (rows.length === 0) return 0;
      const running = rows.filter((r) => r.status === 'running').map((r) => r.id);
      // An attempt that ended but whose retry or settlement was never written (a stop in
      // between): it ran, so it counts, but at least one more attempt is owed.
      const ended = rows.filter((r) => r.status !== 'running').map((r) => r.id);
      await trx
        .updateTable('invocations')
        .set({ status: 'queued', error: 'interrupted: the server stopped while it ran; queued again' })
        .where(
          'id',
          'in',
          rows.map((r) => r.id),
        )
        .execute();
      // CASE rather than two-argument max/min, which PostgreSQL spells greatest/least.
      if (running.length > 0) {
        await trx
          .updateTable('async_invocations')
          .set((eb) => ({
            attempts: eb
              .case()
              .when('attempts', '>', 0)
              .then(eb('attempts', '-', 1))
              .else(0)
              .end(),
            next_attempt_at: now,
            owner: null,
            lease_until: null,
          }))
          .where('id', 'in', running)
          .execute();
      }
      if (ended.length > 0) {
        await trx
          .updateTable('async_invocations')
          .set((eb) => ({
            attempts: eb
              .case()
              .when('attempts', '<', eb('max_attempts', '-', 1))
              .then(eb.ref('attempts'))
              .else(eb('max_attempts', '-', 1))
              .end(),
            next_attempt_at: now,
            owner: null,
            lease_until: null,
          }))
          .where('id', 'in', ended)
          .execute();
      }
      return rows.length;
    });
  }

  async deadLetters(q: {
    function?: string;
    limit: number;
  }): Promise<{ state: AsyncState; invocation: InvocationRecord }[]> {
    let query = this.db
      .selectFrom('async_invocations as a')
      .innerJoin('invocations as i', 'i.id', 'a.id')
      .selectAll('i')
      .select(STATE_COLUMNS)
      .where('a.dead_letter', '=', 1);
    if (q.function) query = query.where('a.function', '=', q.function);
    const rows = await query.orderBy('a.settled_at', 'desc').limit(q.limit).execute();
    return rows.map((r) => ({ state: toState(r as unknown as Row), invocation: toInvocation(r) }));
  }

  async callbacksDue(now: number, limit: number): Promise<AsyncState[]> {
    const rows = await this.db
      .selectFrom('async_invocations')
      .selectAll()
      .where('callback_state', '=', 'pending')
      .where('callback_next_at', '<=', now)
      .orderBy('callback_next_at')
      .limit(limit)
      .execute();
    return rows.map(toState);
  }

  async nextCallbackAt(): Promise<number | null> {
    const r = await this.db
      .selectFrom('async_invocations')
      .select((eb) => eb.fn.min('callback_next_at').as('at'))
      .where('callback_state', '=', 'pending')
      .executeTakeFirst();
    return r?.at == null ? null : Number(r.at);
  }

  async claimCallback(id: string, seen: number, until: number): Promise<boolean> {
    const r = await this.db
      .updateTable('async_invocations')
      .set({ callback_next_at: until })
      .where('id', '=', id)
      .where('callback_state', '=', 'pending')
      .where('callback_next_at', '=', seen)
      .executeTakeFirst();
    return Number(r.numUpdatedRows) === 1;
  }
}
