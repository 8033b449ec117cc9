/**
 * Durable state of fan-out jobs and their items. Counts are derived from the items, so a job's
 * figures can never drift from what its items say.
 */

import type { Kysely, Selectable } from 'kysely';
import { type InputRef, refOf, refText } from '../core/volumes.js';
import type { ItemStatus, JobCounts, JobItem, JobStatus, ReduceStatus } from '../triggers/jobs-types.js';
import type { Database, JobTables } from './schema.js';

export interface JobRow {
  id: string;
  function: string;
  reduce: string | null;
  version: number | null;
  reduceVersion: number | null;
  concurrency: number;
  status: JobStatus;
  run: number;
  runBase: number;
  inputs: number;
  inputBytes: number;
  settleSeq: number;
  /** a started job that still takes inputs (a streaming upload): it finishes only once closed */
  inputsOpen: boolean;
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  reduceStatus: ReduceStatus | null;
  reduceInvocation: string | null;
  reduceError: string | null;
  error: string | null;
  /** `VOLUME:/dir` on a read-write volume: outputs are written there too, as items succeed */
  outputTo: string | null;
}

/** A job as created: open, nothing submitted, run 0. The only place a fresh job's fields are spelled out. */
export function newJobRow(over: Partial<JobRow> & Pick<JobRow, 'id' | 'function'>): JobRow {
  return {
    reduce: null,
    version: null,
    reduceVersion: null,
    concurrency: 1,
    status: 'open',
    run: 0,
    runBase: 0,
    inputs: 0,
    inputBytes: 0,
    settleSeq: 0,
    inputsOpen: false,
    createdAt: Date.now(),
    startedAt: null,
    finishedAt: null,
    reduceStatus: null,
    reduceInvocation: null,
    reduceError: null,
    error: null,
    outputTo: null,
    ...over,
  };
}

export interface ItemRow extends JobItem {
  inputFile: string;
  inputOffset: number;
  /** a by-reference input: the file on a volume (inputFile is then empty) */
  inputRef: InputRef | null;
}

export interface NewItem {
  name: string;
  inputFile: string;
  inputOffset: number;
  inputBytes: number;
  inputRef?: InputRef;
}

export type JobPatch = Partial<
  Pick<
    JobRow,
    | 'status'
    | 'inputsOpen'
    | 'version'
    | 'reduceVersion'
    | 'concurrency'
    | 'run'
    | 'runBase'
    | 'startedAt'
    | 'finishedAt'
    | 'reduceStatus'
    | 'reduceInvocation'
    | 'reduceError'
    | 'error'
  >
>;

export interface Settlement {
  status: 'succeeded' | 'failed';
  outcome: string;
  exitCode: number | null;
  error: string | null;
  outputBytes: number | null;
  finishedAt: number;
}

export interface ItemQuery {
  status?: ItemStatus | 'settled';
  /** items whose index is at least this, by index */
  from?: number;
  /** items settled after this sequence number, in the order they settled */
  since?: number;
  limit: number;
}

export interface JobRepository {
  create(job: JobRow): Promise<void>;
  get(id: string): Promise<JobRow | undefined>;
  list(q: { limit: number; status?: JobStatus[] }): Promise<JobRow[]>;
  update(id: string, patch: JobPatch): Promise<void>;
  counts(id: string): Promise<JobCounts>;
  /** appends items after the job's last one, in one transaction; returns the first new index */
  addItems(id: string, items: NewItem[]): Promise<number>;
  items(id: string, q: ItemQuery): Promise<ItemRow[]>;
  item(id: string, index: number): Promise<ItemRow | undefined>;
  /** pending items in index order */
  nextPending(id: string, limit: number): Promise<ItemRow[]>;
  markRunning(id: string, index: number, invocationId: string, at: number): Promise<void>;
  /** records how an item ended and gives it the job's next settle number; false if it was not running that invocation */
  settle(id: string, index: number, invocationId: string | null, s: Settlement): Promise<boolean>;
  /** failed items back to pending, for a new run; returns how many */
  resetFailed(id: string): Promise<number>;
  /** the job and its items */
  remove(id: string): Promise<void>;
  /** every item that succeeded, by index: what the reduce is fed */
  succeededOutputs(id: string): Promise<{ index: number; invocationId: string }[]>;
  findByInvocation(invocationId: string): Promise<{ jobId: string; index: number } | undefined>;
}

type Job = Selectable<JobTables['jobs']>;
type Item = Selectable<JobTables['job_items']>;

const num = (v: number | string | null): number | null => (v === null ? null : Number(v));

function toJob(r: Job): JobRow {
  return {
    id: r.id,
    function: r.function,
    reduce: r.reduce,
    version: num(r.version ?? null),
    reduceVersion: num(r.reduce_version ?? null),
    concurrency: Number(r.concurrency),
    status: r.status as JobStatus,
    run: Number(r.run),
    runBase: Number(r.run_base),
    inputs: Number(r.inputs),
    inputBytes: Number(r.input_bytes),
    settleSeq: Number(r.settle_seq),
    inputsOpen: Number(r.inputs_open ?? 0) === 1,
    createdAt: Number(r.created_at),
    startedAt: num(r.started_at),
    finishedAt: num(r.finished_at),
    reduceStatus: r.reduce_status as ReduceStatus | null,
    reduceInvocation: r.reduce_invocation,
    reduceError: r.reduce_error,
    error: r.error,
    outputTo: r.output_to ?? null,
  };
}

function toItem(r: Item): ItemRow {
  return {
    index: Number(r.idx),
    name: r.name,
    status: r.status as ItemStatus,
    invocationId: r.invocation_id,
    outcome: r.outcome,
    exitCode: num(r.exit_code),
    error: r.error,
    inputBytes: Number(r.input_bytes),
    outputBytes: num(r.output_bytes),
    attempts: Number(r.attempts),
    startedAt: num(r.started_at),
    finishedAt: num(r.finished_at),
    seq: num(r.settled_seq),
    inputFile: r.input_file,
    inputOffset: Number(r.input_offset),
    inputRef: refOf(r.input_ref) ?? null,
  };
}

const JOB_COLUMNS: Record<keyof JobPatch, keyof Job> = {
  status: 'status',
  inputsOpen: 'inputs_open',
  version: 'version',
  reduceVersion: 'reduce_version',
  concurrency: 'concurrency',
  run: 'run',
  runBase: 'run_base',
  startedAt: 'started_at',
  finishedAt: 'finished_at',
  reduceStatus: 'reduce_status',
  reduceInvocation: 'reduce_invocation',
  reduceError: 'reduce_error',
  error: 'error',
};

export class SqlJobRepository implements JobRepository {
  constructor(private readonly db: Kysely<Database>) {}

  async create(j: JobRow): Promise<void> {
    await this.db
      .insertInto('jobs')
      .values({
        id: j.id,
        function: j.function,
        reduce: j.reduce,
        version: j.version,
        reduce_version: j.reduceVersion,
        concurrency: j.concurrency,
        status: j.status,
        run: j.run,
        run_base: j.runBase,
        inputs: j.inputs,
        input_bytes: j.inputBytes,
        settle_seq: j.settleSeq,
        inputs_open: j.inputsOpen ? 1 : 0,
        created_at: j.createdAt,
        started_at: j.startedAt,
        finished_at: j.finishedAt,
        reduce_status: j.reduceStatus,
        reduce_invocation: j.reduceInvocation,
        reduce_error: j.reduceError,
        error: j.error,
        output_to: j.outputTo,
      })
      .execute();
  }

  async get(id: string): Promise<JobRow | undefined> {
    const r = await this.db.selectFrom('jobs').selectAll().where('id', '=', id).executeTakeFirst();
    return r ? toJob(r) : undefined;
  }

  async list(q: { limit: number; status?: JobStatus[] }): Promise<JobRow[]> {
    let query = this.db.selectFrom('jobs').selectAll();
    if (q.status?.length) query = query.where('status', 'in', q.status);
    const rows = await query.orderBy('created_at', 'desc').orderBy('id', 'desc').limit(q.limit).execute();
    return rows.map(toJob);
  }

  async update(id: string, patch: JobPatch): Promise<void> {
    const set: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(patch))
      if (v !== undefined) set[JOB_COLUMNS[k as keyof JobPatch]] = typeof v === 'boolean' ? Number(v) : v;
    if (Object.keys(set).length === 0) return;
    await this.db.updateTable('jobs').set(set).where('id', '=', id).execute();
  }

  async counts(id: string): Promise<JobCounts> {
    const rows = await this.db
      .selectFrom('job_items')
      .select(['status', (eb) => eb.fn.countAll().as('n')])
      .where('job_id', '=', id)
      .groupBy('status')
      .execute();
    const c: JobCounts = { total: 0, pending: 0, running: 0, succeeded: 0, failed: 0 };
    for (const r of rows) {
      const n = Number(r.n);
      c.total += n;
      if (r.status in c) c[r.status as ItemStatus] += n;
    }
    return c;
  }

  async addItems(id: string, items: NewItem[]): Promise<number> {
    return this.db.transaction().execute(async (trx) => {
      const j = await trx
        .selectFrom('jobs')
        .select(['inputs', 'input_bytes'])
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      const first = Number(j.inputs);
      let bytes = 0;
      // SQLite caps bound parameters per statement; insert in slices.
      for (let i = 0; i < items.length; i += 500) {
        const rows = items.slice(i, i + 500).map((it, k) => {
          bytes += it.inputBytes;
          return {
            job_id: id,
            idx: first + i + k,
            name: it.name,
            status: 'pending',
            input_file: it.inputFile,
            input_offset: it.inputOffset,
            input_bytes: it.inputBytes,
            input_ref: it.inputRef ? refText(it.inputRef) : null,
            invocation_id: null,
            attempts: 0,
            outcome: null,
            exit_code: null,
            error: null,
            output_bytes: null,
            settled_seq: null,
            started_at: null,
            finished_at: null,
          };
        });
        await trx.insertInto('job_items').values(rows).execute();
      }
      await trx
        .updateTable('jobs')
        .set({ inputs: first + items.length, input_bytes: Number(j.input_bytes) + bytes })
        .where('id', '=', id)
        .execute();
      return first;
    });
  }

  async items(id: string, q: ItemQuery): Promise<ItemRow[]> {
    let query = this.db.selectFrom('job_items').selectAll().where('job_id', '=', id);
    if (q.status === 'settled') query = query.where('status', 'in', ['succeeded', 'failed']);
    else if (q.status) query = query.where('status', '=', q.status);
    if (q.from !== undefined) query = query.where('idx', '>=', q.from);
    if (q.since !== undefined) {
      query = query.where('settled_seq', '>', q.since).orderBy('settled_seq');
    } else query = query.orderBy('idx');
    const rows = await query.limit(q.limit).execute();
    return rows.map(toItem);
  }

  async item(id: string, index: number): Promise<ItemRow | undefined> {
    const r = await this.db
      .selectFrom('job_items')
      .selectAll()
      .where('job_id', '=', id)
      .where('idx', '=', index)
      .executeTakeFirst();
    return r ? toItem(r) : undefined;
  }

  nextPending(id: string, limit: number): Promise<ItemRow[]> {
    return this.items(id, { status: 'pending', limit });
  }

  async markRunning(id: string, index: number, invocationId: string, at: number): Promise<void> {
    await this.db
      .updateTable('job_items')
      .set((eb) => ({
        status: 'running',
        invocation_id: invocationId,
        attempts: eb('attempts', '+', 1),
        started_at: at,
        finished_at: null,
        outcome: null,
        exit_code: null,
        error: null,
        output_bytes: null,
      }))
      .where('job_id', '=', id)
      .where('idx', '=', index)
      .execute();
  }

  async settle(id: string, index: number, invocationId: string | null, s: Settlement): Promise<boolean> {
    return this.db.transaction().execute(async (trx) => {
      // An item settles once per submission: a late or repeated event for it changes nothing. The
      // job's sequence moves only when the item is still as submitted (checked in the same statement).
      const j = await trx
        .updateTable('jobs')
        .set((eb) => ({ settle_seq: eb('settle_seq', '+', 1) }))
        .where('id', '=', id)
        .where(({ exists, selectFrom }) => {
          let q = selectFrom('job_items')
            .select('job_items.idx')
            .where('job_items.job_id', '=', id)
            .where('job_items.idx', '=', index)
            .where('job_items.status', '=', invocationId === null ? 'pending' : 'running');
          if (invocationId !== null) q = q.where('job_items.invocation_id', '=', invocationId);
          return exists(q);
        })
        .returning('settle_seq')
        .executeTakeFirst();
      if (!j) return false;
      await trx
        .updateTable('job_items')
        .set({
          status: s.status,
          outcome: s.outcome,
          exit_code: s.exitCode,
          error: s.error,
          output_bytes: s.outputBytes,
          finished_at: s.finishedAt,
          settled_seq: Number(j.settle_seq),
        })
        .where('job_id', '=', id)
        .where('idx', '=', index)
        .execute();
      return true;
    });
  }

  async resetFailed(id: string): Promise<number> {
    const r = await this.db
      .updateTable('job_items')
      .set({
        status: 'pending',
        settled_seq: null,
        started_at: null,
        finished_at: null,
      })
      .where('job_id', '=', id)
      .where('status', '=', 'failed')
      .executeTakeFirst();
    return Number(r.numUpdatedRows);
  }

  async remove(id: string): Promise<void> {
    await this.db.transaction().execute(async (trx) => {
      await trx.deleteFrom('job_items').where('job_id', '=', id).execute();
      await trx.deleteFrom('jobs').where('id', '=', id).execute();
    });
  }

  async succeededOutputs(id: string): Promise<{ index: number; invocationId: string }[]> {
    const rows = await this.db
      .selectFrom('job_items')
      .select(['idx', 'invocation_id'])
      .where('job_id', '=', id)
      .where('status', '=', 'succeeded')
      .orderBy('idx')
      .execute();
    return rows.map((r) => ({ index: Number(r.idx), invocationId: r.invocation_id ?? '' }));
  }

  async findByInvocation(invocationId: string): Promise<{ jobId: string; index: number } | undefined> {
    const r = await this.db
      .selectFrom('job_items')
      .select(['job_id', 'idx'])
      .where('invocation_id', '=', invocationId)
      .where('status', '=', 'running')
      .executeTakeFirst();
    return r ? { jobId: r.job_id, index: Number(r.idx) } : undefined;
  }
}
