/**
 * Fan-out jobs: one function mapped over many inputs, each input one durable async invocation,
 * at most `concurrency` of a job submitted at once, then an optional reduce over the outputs.
 *
 * Everything a job needs to go on lives in the store and under $AGNI_HOME/jobs/<id>/, so a job
 * outlives the CLI that started it, and a restarted server resumes it: items that were submitted
 * are the async queue's to recover, pending ones are submitted as room frees up.
 */
import type { Logger } from 'pino';
import { AgniError, isAgniError } from '../core/errors.js';
import { newId } from '../core/ids.js';
import type { Metrics } from '../core/metrics.js';
import { parseTarget, type Qualifier } from '../core/qualifier.js';
import { assertWritesVolume, type InputRef, parseOutputSpec, parseRefSpec } from '../core/volumes.js';
import type { EventBus } from '../events/event-bus.js';
import type { BlobStore } from '../store/blob/blob-store.js';
import {
  type ItemQuery,
  type ItemRow,
  type JobRepository,
  type JobRow,
  newJobRow,
} from '../store/job-repo.js';
import type { InvocationRecord, Store, VersionRecord } from '../store/store.js';
import type { VersionResolver } from '../store/version-resolver.js';
import type { AsyncOutput, AsyncSubmitter, OutputVolumes, RefExpander } from './async-types.js';
import { jobBlobKey, jobPrefix } from './blob-keys.js';
import { inputNameProblem, lineSpans, MAX_JOB_INPUTS, type Span } from './jobs-inputs.js';
import { etaMsOf, rateOf } from './jobs-progress.js';
import { KeyedSerial } from './jobs-serial.js';
import { type Job, type JobCounts, type JobItem, type JobStatus, jobSource } from './jobs-types.js';

export interface JobRunnerOptions {
  /** job inputs, by key (src/triggers/blob-keys.ts) */
  blobs: BlobStore;
  repo: JobRepository;
  queue: AsyncSubmitter;
  /** invocation records at recovery */
  store: Pick<Store, 'getInvocation'>;
  /** function lookups at creation (404 before anything is stored; the live version is pinned) */
  resolver: VersionResolver;
  /** the reduce payload is every succeeded output at once; it may not be larger than this */
  maxPayloadBytes: number;
  logger: Logger;
  /** tells long polls on other servers that a job changed, and hears theirs (cluster mode) */
  events?: EventBus;
  /** settled items are counted here */
  metrics?: Pick<Metrics, 'jobItemSettled'>;
  /** by-reference inputs: expands `VOLUME:/glob` on the server's volumes; absent: refused */
  refs?: RefExpander;
  /** `output_to`: writes outputs into the server's read-write volumes; absent: refused */
  outputs?: OutputVolumes;
}

export const JOB_CHANGED = 'job.changed';

export interface NewJob {
  /** NAME (pinned to the live version at creation), NAME@VERSION, or NAME@ALIAS (resolved per item) */
  function: string;
  concurrency: number;
  /** like `function` */
  reduce?: string;
  /** `VOLUME:/dir` on a read-write volume of the server: each succeeded output is written there too */
  outputTo?: string;
}

/**
 * what a settled async invocation is waited for: an item of a job (named), or its reduce;
 * `streamed`: submitted here with `outputTo`, so the queue wrote its output onto the volume itself
 */
type Watch = ({ jobId: string; index: number; name: string } | { jobId: string; index: 'reduce' }) & {
  streamed?: boolean;
};

const EMPTY = Buffer.alloc(0);
/**
 * A job's counts are kept in memory between settles (one GROUP BY over 100,000 items per settle
 * would dominate); read again from the store at least this often, and always before a job is
 * judged finished, so they never decide anything on a stale view for long.
 */
const COUNTS_FRESH_MS = 1000;

/** when the queue refuses for now (full, shutting down, disk low), the job tries again after this */
const RETRY_SUBMIT_MS = 1000;
/** settle events remembered while a submission's id is not yet known */
const EARLY_MAX = 1000;

/**
 * The queue refuses for now, not for good: full (`agni up --async-queue`; a job's items count
 * toward it like any submission, and wait for room rather than fail), shutting down, or the disk
 * is nearly full. The item stays pending and is submitted again later.
 */
function refusedForNow(e: unknown): boolean {
  return (
    isAgniError(e) &&
    (e.code === 'overloaded' || e.code === 'backend_unavailable' || e.code === 'insufficient_storage')
  );
}

function isSettled(r: InvocationRecord): boolean {
  return r.status !== 'queued' && r.status !== 'running';
}

function describe(r: InvocationRecord): string {
  if (r.error) return r.error;
  if (r.status === 'failed') return `exited with code ${r.exitCode ?? 'unknown'}`;
  if (r.status === 'oom') return 'ran out of memory';
  if (r.status === 'timeout') return 'ran past its deadline';
  return r.status;
}

/** what an item (or the reduce) runs: the pinned version of a bare NAME, else the target as named */
function submitTarget(named: string, pinned: number | null): { function: string; qualifier: Qualifier } {
  const t = parseTarget(named);
  const live = t.qualifier.kind === 'live';
  return {
    function: t.name,
    // A job stored before versions were pinned has none: it runs the live version, as it did then.
    qualifier: live && pinned !== null ? { kind: 'version', version: pinned } : t.qualifier,
  };
}

export class JobRunner {
  private readonly lanes = new KeyedSerial();
  private readonly watching = new Map<string, Watch>();
  private readonly early = new Map<string, InvocationRecord>();
  private readonly timers = new Set<NodeJS.Timeout>();
  /** long polls waiting for a job to change */
  private readonly waiters = new Map<string, Set<() => void>>();
  private submitting = 0;
  /** each job's `output_to` (set at creation, never changed), once read */
  private readonly targets = new Map<string, string | null>();
  /** each pumped job's counts, as of `at` plus the changes this runner made since */
  private readonly tallies = new Map<string, { c: JobCounts; at: number }>();
  private closed = false;
  private readonly unsubscribe: () => void;
  private readonly unfollow: () => void;
  /** this runner, in the events it sends */
  private readonly origin = newId('runner');

  constructor(private readonly o: JobRunnerOptions) {
    // From the start, so no settle of a job created before start() is missed.
    this.unsubscribe = o.queue.onSettled((rec) => this.onSettled(rec));
    // Another server's change: its waiters here re-read the job (ours were woken already).
    this.unfollow =
      o.events?.subscribe(JOB_CHANGED, (e) => {
        if (typeof e.id === 'string' && e.origin !== this.origin) this.notify(e.id);
      }) ?? (() => {});
  }

  /** picks up jobs a previous process left running */
  async resumeAll(): Promise<number> {
    const jobs = await this.o.repo.list({ limit: MAX_JOB_INPUTS, status: ['running', 'reducing'] });
    for (const job of jobs) this.kick(job.id, () => this.resume(job.id));
    return jobs.length;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.unsubscribe();
    this.unfollow();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const id of [...this.waiters.keys()]) this.notify(id);
    await this.lanes.idle();
  }

  async create(req: NewJob): Promise<Job> {
    const fn = await this.resolveField(req.function, 'function');
    const reduce = req.reduce === undefined ? undefined : await this.resolveField(req.reduce, 'reduce');
    const version = fn.pinned;
    const reduceVersion = reduce?.pinned ?? null;
    let outputTo: string | null = null;
    if (req.outputTo !== undefined) {
      if (!this.o.outputs)
        throw new AgniError(
          'bad_request',
          'field `output_to`: this server has no volumes to write outputs to',
          {
            hint: 'start it with `agni up --volume NAME=/host/path:rw`',
          },
        );
      outputTo = this.o.outputs.check(req.outputTo, 'field `output_to`');
      // Written on their behalf: only where the functions themselves may write (both the operator
      // and their manifests say read-write), so a job cannot reach a volume its functions cannot.
      const { volume } = parseOutputSpec(outputTo, 'field `output_to`');
      for (const v of reduce ? [fn.version, reduce.version] : [fn.version])
        assertWritesVolume(v, volume, 'field `output_to`');
    }
    const job = newJobRow({
      id: newId('job'),
      function: req.function,
      reduce: req.reduce ?? null,
      version,
      reduceVersion,
      concurrency: req.concurrency,
      outputTo,
    });
    this.targets.set(job.id, outputTo);
    await this.o.repo.create(job);
    return this.view(job);
  }

  /**
   * The version a bare NAME runs, pinned now (at creation, and when failed items are retried: a new
   * run, typically after a fix was deployed); null for NAME@VERSION and NAME@ALIAS, which are kept
   * as named (an alias is resolved for each item as it starts). Throws naming the field.
   */
  private async pin(target: string, field: 'function' | 'reduce'): Promise<number | null> {
    return (await this.resolveField(target, field)).pinned;
  }

  /** pin()'s answer, with the version the target names now */
  private async resolveField(
    target: string,
    field: 'function' | 'reduce',
  ): Promise<{ pinned: number | null; version: VersionRecord }> {
    const t = parseTarget(target, `field \`${field}\``);
    try {
      const r = await this.o.resolver.resolve(t.name, t.qualifier);
      return { pinned: t.qualifier.kind === 'live' ? r.version.version : null, version: r.version };
    } catch (e) {
      if (!isAgniError(e)) throw e;
      throw new AgniError(e.code, `field \`${field}\`: ${e.message}`, { hint: e.hint, details: { field } });
    }
  }

  /**
   * Stores inputs of an open job: one input, or with `lines` one per non-blank line of `body`.
   * The bytes are on disk (fsynced) before the rows that point at them; returns their indexes.
   */
  addInputs(
    id: string,
    body: Buffer,
    opts: { name?: string; lines?: boolean },
  ): Promise<{ first: number; count: number }> {
    return this.changing(id, async () => {
      const job = await this.mustBeOpen(id);
      let spans: Span[] = [{ offset: 0, length: body.length }];
      if (opts.lines) {
        if (opts.name !== undefined)
          throw new AgniError(
            'bad_request',
            'header `agni-input-name`: not allowed with `agni-input-split: lines`',
          );
        spans = lineSpans(body);
        if (spans.length === 0)
          throw new AgniError('bad_request', 'body: no non-blank line to use as an input');
      } else if (opts.name !== undefined) {
        const problem = inputNameProblem(opts.name);
        if (problem) throw new AgniError('bad_request', `header \`agni-input-name\`: ${problem}`);
      }
      const first = job.inputs;
      if (first + spans.length > MAX_JOB_INPUTS) {
        throw new AgniError('bad_request', `a job takes at most ${MAX_JOB_INPUTS} inputs`, {
          hint: 'split the inputs over several jobs',
        });
      }
      const file = `inputs/${first}`;
      await this.o.blobs.put(jobBlobKey(id, file), body);
      await this.o.repo.addItems(
        id,
        spans.map((s, k) => ({
          name: opts.lines || opts.name === undefined ? String(first + k) : opts.name,
          inputFile: file,
          inputOffset: s.offset,
          inputBytes: s.length,
        })),
      );
      await this.added(job, spans.length);
      return { first, count: spans.length };
    });
  }

  /**
   * Adds, as inputs of an open job, the files on a volume that `ref` (`VOLUME:/glob`) matches:
   * nothing is uploaded or copied, each item's sandbox reads its file from the volume. The job's
   * function must mount that volume. Returns their indexes.
   */
  addRefs(id: string, ref: string): Promise<{ first: number; count: number }> {
    return this.changing(id, async () => {
      const job = await this.mustBeOpen(id);
      const { volume } = parseRefSpec(ref, 'ref');
      const t = submitTarget(job.function, job.version);
      const { version: v } = await this.o.resolver.resolve(t.function, t.qualifier);
      if (!(v.manifest.volumes ?? []).some((m) => m.name === volume))
        throw new AgniError(
          'bad_request',
          `ref: ${v.function} v${v.version} does not mount volume ${volume}, so its sandboxes could not read these inputs`,
          { hint: `add \`volumes: [{name: ${volume}, path: /data}]\` to its agni.yaml and deploy again` },
        );
      if (!this.o.refs)
        throw new AgniError('bad_request', 'ref: this server has no volumes to take inputs from', {
          hint: 'start it with `agni up --volume NAME=/host/path`',
        });
      const refs = await this.o.refs.expand(ref, MAX_JOB_INPUTS - job.inputs, 'ref');
      const first = job.inputs;
      await this.o.repo.addItems(
        id,
        // VOLUME/PATH: a relative name, so `--out DIR` writes DIR/VOLUME/PATH.out
        refs.map((r) => ({
          name: `${r.volume}/${r.path}`,
          inputFile: '',
          inputOffset: 0,
          inputBytes: 0,
          inputRef: r,
        })),
      );
      await this.added(job, refs.length);
      return { first, count: refs.length };
    });
  }

  /**
   * Starts running the items. With `moreInputs` the job keeps taking inputs while its items run
   * (a streaming upload: the first shards run while later ones still arrive), and finishes only
   * once `closeInputs` says no more come.
   */
  start(id: string, opts: { moreInputs?: boolean } = {}): Promise<Job> {
    return this.changing(id, async () => {
      const job = await this.mustGet(id);
      if (job.status !== 'open') throw new AgniError('conflict', `job ${id} is already ${job.status}`);
      if (job.inputs === 0 && !opts.moreInputs) {
        throw new AgniError('bad_request', `job ${id} has no inputs`, {
          hint: 'add some with POST /v1/jobs/ID/inputs first, or start it with {"more_inputs": true}',
        });
      }
      await this.o.repo.update(id, {
        status: 'running',
        run: 1,
        runBase: 0,
        startedAt: Date.now(),
        inputsOpen: opts.moreInputs === true,
      });
      await this.pump(id);
      return this.view(await this.mustGet(id));
    });
  }

  /** no more inputs come to a job started with `moreInputs`: it finishes once its items have */
  closeInputs(id: string): Promise<Job> {
    return this.changing(id, async () => {
      const job = await this.mustGet(id);
      if (!job.inputsOpen) {
        if (job.status === 'open')
          throw new AgniError('conflict', `job ${id} is not started; start it instead`, {
            hint: `POST /v1/jobs/${id}/start`,
          });
        return this.view(job);
      }
      if (job.inputs === 0)
        throw new AgniError('bad_request', `job ${id} has no inputs`, {
          hint: 'add some with POST /v1/jobs/ID/inputs before closing it',
        });
      await this.o.repo.update(id, { inputsOpen: false });
      await this.pump(id);
      return this.view(await this.mustGet(id));
    });
  }

  /** failed items (and a failed reduce) run again in a new run of the job */
  retryFailed(id: string, concurrency?: number): Promise<Job> {
    return this.changing(id, async () => {
      const job = await this.mustGet(id);
      if (job.status !== 'succeeded' && job.status !== 'failed') {
        throw new AgniError('conflict', `job ${id} is ${job.status}; only a finished job can be retried`, {
          hint: `follow it with \`agni jobs show ${id}\``,
        });
      }
      // Pinned again before anything changes: a function removed since is refused with nothing reset.
      const version = await this.pin(job.function, 'function');
      const reduceVersion = job.reduce === null ? null : await this.pin(job.reduce, 'reduce');
      const reset = await this.o.repo.resetFailed(id);
      this.tallies.delete(id);
      if (reset === 0 && job.reduceStatus !== 'failed') {
        throw new AgniError('conflict', `job ${id} has no failed inputs and no failed reduce to retry`);
      }
      const c = await this.o.repo.counts(id);
      await this.o.repo.update(id, {
        status: 'running',
        run: job.run + 1,
        runBase: c.succeeded + c.failed,
        version,
        reduceVersion,
        startedAt: Date.now(),
        finishedAt: null,
        error: null,
        ...(concurrency === undefined ? {} : { concurrency }),
        ...(job.reduce ? { reduceStatus: null, reduceInvocation: null, reduceError: null } : {}),
      });
      await this.pump(id);
      return this.view(await this.mustGet(id));
    });
  }

  /**
   * Forgets a job that is not running: its items and stored inputs. The invocations it made stay
   * (they are records like any other, in `agni logs`).
   */
  remove(id: string): Promise<Job> {
    return this.lanes.run(id, async () => {
      const job = await this.mustGet(id);
      if (job.status === 'running' || job.status === 'reducing')
        throw new AgniError('conflict', `job ${id} is ${job.status}; a running job cannot be removed`, {
          hint: `wait for it to finish: \`agni jobs show ${id}\``,
        });
      const view = await this.view(job);
      await this.o.repo.remove(id);
      this.tallies.delete(id);
      await this.o.blobs.deletePrefix(jobPrefix(id));
      return view;
    });
  }

  async get(id: string): Promise<Job> {
    return this.view(await this.mustGet(id));
  }

  async list(limit: number): Promise<Job[]> {
    const rows = await this.o.repo.list({ limit });
    return Promise.all(rows.map((r) => this.view(r)));
  }

  /**
   * A page of items. With `since` and `waitMs`, an empty answer is held until an item settles or
   * the job changes (at most `waitMs`), so a follower sees each settle at once without busy polling.
   */
  async items(id: string, q: ItemQuery, waitMs = 0): Promise<JobItem[]> {
    const strip = (rows: ItemRow[]) =>
      rows.map(({ inputFile: _f, inputOffset: _o, inputRef: _r, ...item }) => item);
    const job = await this.mustGet(id);
    if (waitMs <= 0 || q.since === undefined || job.status === 'succeeded' || job.status === 'failed')
      return strip(await this.o.repo.items(id, q));
    // Listening before looking, so a settle in between is not missed.
    let wake = () => {};
    const changed = new Promise<void>((resolve) => {
      wake = resolve;
    });
    const set = this.waiters.get(id) ?? new Set();
    this.waiters.set(id, set);
    set.add(wake);
    const t = setTimeout(wake, waitMs);
    try {
      const rows = await this.o.repo.items(id, q);
      if (rows.length > 0 || this.closed) return strip(rows);
      await changed;
      return strip(await this.o.repo.items(id, q));
    } finally {
      clearTimeout(t);
      set.delete(wake);
      if (set.size === 0 && this.waiters.get(id) === set) this.waiters.delete(id);
    }
  }

  private notify(id: string): void {
    const set = this.waiters.get(id);
    if (!set) return;
    this.waiters.delete(id);
    for (const wake of set) wake();
  }

  /** runs `fn` in the job's lane and then wakes whoever waits for the job to change */
  private changing<T>(id: string, fn: () => Promise<T>): Promise<T> {
    return this.lanes.run(id, fn).finally(() => {
      this.notify(id);
      this.o.events?.publish(JOB_CHANGED, { id, origin: this.origin }).catch(() => {
        // Others' long polls end at their timeout instead.
      });
    });
  }

  /** an item's whole output (as stored), once it settled */
  async itemOutput(id: string, index: number): Promise<{ item: JobItem; output: AsyncOutput }> {
    await this.mustGet(id);
    const item = await this.o.repo.item(id, index);
    if (!item) throw new AgniError('not_found', `job ${id} has no input ${index}`);
    if (item.status !== 'succeeded' && item.status !== 'failed')
      throw new AgniError(
        'conflict',
        `input ${index} of job ${id} is ${item.status}; its output is not there yet`,
      );
    return { item, output: await this.existingOutput(item.invocationId, `input ${index} of job ${id}`) };
  }

  async reduceOutput(id: string): Promise<{ job: Job; output: AsyncOutput }> {
    const job = await this.mustGet(id);
    if (!job.reduce) throw new AgniError('not_found', `job ${id} has no reduce function`);
    if (job.reduceStatus !== 'succeeded' && job.reduceStatus !== 'failed')
      throw new AgniError('conflict', `the reduce of job ${id} is ${job.reduceStatus ?? 'not started'}`);
    return {
      job: await this.view(job),
      output: await this.existingOutput(job.reduceInvocation, `the reduce of job ${id}`),
    };
  }

  private async existingOutput(invocationId: string | null, what: string): Promise<AsyncOutput> {
    const output = invocationId ? await this.o.queue.output(invocationId) : undefined;
    if (!output)
      throw new AgniError('not_found', `no output is stored for ${what}`, {
        hint: invocationId ? `see \`agni inspect ${invocationId}\`` : undefined,
      });
    return output;
  }

  /** the job, while inputs may still be added to it: before it starts, or started with more to come */
  private async mustBeOpen(id: string): Promise<JobRow> {
    const job = await this.mustGet(id);
    if (job.status !== 'open' && !(job.status === 'running' && job.inputsOpen)) {
      throw new AgniError(
        'conflict',
        `job ${id} is ${job.status}: inputs can only be added before it starts, or while it was started with more_inputs and not closed`,
      );
    }
    return job;
  }

  /** new items of a job: counted, and run at once if it is running */
  private async added(job: JobRow, n: number): Promise<void> {
    const t = this.tallies.get(job.id);
    if (t) {
      t.c.total += n;
      t.c.pending += n;
    }
    if (job.status === 'running') await this.pump(job.id);
  }

  /** the job's counts, from memory while fresh (see COUNTS_FRESH_MS) */
  private async countsOf(id: string, fresh = false): Promise<JobCounts> {
    const t = this.tallies.get(id);
    if (t && !fresh && Date.now() - t.at < COUNTS_FRESH_MS) return t.c;
    const c = await this.o.repo.counts(id);
    this.tallies.set(id, { c, at: Date.now() });
    return c;
  }

  /** an item of the job moved from one status to another (the store has it already) */
  private tally(id: string, from: 'pending' | 'running', to: 'running' | 'succeeded' | 'failed'): void {
    const t = this.tallies.get(id);
    if (!t) return;
    t.c[from]--;
    t.c[to]++;
  }

  private async mustGet(id: string): Promise<JobRow> {
    const job = await this.o.repo.get(id);
    if (!job) throw new AgniError('not_found', `no job ${id}`, { hint: 'list jobs with `agni jobs`' });
    return job;
  }

  private async view(job: JobRow): Promise<Job> {
    const counts = await this.o.repo.counts(job.id);
    const active = job.status === 'running' || job.status === 'reducing';
    const rate = rateOf(
      counts.succeeded + counts.failed - job.runBase,
      job.startedAt,
      job.finishedAt ?? Date.now(),
    );
    const { runBase: _b, settleSeq: _s, inputs: _i, ...rest } = job;
    return {
      ...rest,
      counts,
      rate,
      etaMs: active ? etaMsOf(counts.pending + counts.running, rate) : null,
    };
  }

  // ---- the engine: everything below runs inside the job's lane ----

  private kick(id: string, fn: () => Promise<void> = () => this.pump(id)): void {
    this.changing(id, fn).catch((e) =>
      this.o.logger.error({ err: e, job: id }, 'jobs: could not advance a job'),
    );
  }

  private later(id: string): void {
    if (this.closed) return;
    const t = setTimeout(() => {
      this.timers.delete(t);
      this.kick(id);
    }, RETRY_SUBMIT_MS);
    this.timers.add(t);
  }

  private onSettled(rec: InvocationRecord): void {
    const w = this.watching.get(rec.id);
    if (!w) {
      // Possibly ours, with its submit() not yet returned: keep it for a moment.
      if (this.submitting > 0) {
        this.early.set(rec.id, rec);
        if (this.early.size > EARLY_MAX) this.early.delete(this.early.keys().next().value as string);
      }
      return;
    }
    this.kick(w.jobId, async () => {
      await this.applySettled(rec);
      await this.pump(w.jobId);
    });
  }

  private async applySettled(rec: InvocationRecord): Promise<void> {
    const w = this.watching.get(rec.id);
    if (!w) return;
    this.watching.delete(rec.id);
    if (w.index === 'reduce') return this.reduceSettled(w.jobId, rec, w.streamed === true);
    let ok = rec.status === 'succeeded';
    // Written before the item counts as succeeded: a job that says so has its outputs in place.
    const unwritten =
      ok && !w.streamed ? await this.writeOutput(w.jobId, rec.id, `${w.name}.out`) : undefined;
    if (unwritten) ok = false;
    const settled = await this.o.repo.settle(w.jobId, w.index, rec.id, {
      status: ok ? 'succeeded' : 'failed',
      outcome: rec.status,
      exitCode: rec.exitCode,
      error: unwritten ?? (ok ? null : describe(rec)),
      outputBytes: rec.stdoutBytes,
      finishedAt: Date.now(),
    });
    if (settled) this.tally(w.jobId, 'running', ok ? 'succeeded' : 'failed');
    this.o.metrics?.jobItemSettled(rec.function, ok ? 'succeeded' : 'failed');
  }

  /** what a previous process left: submitted items are watched again, the rest goes on */
  private async resume(id: string): Promise<void> {
    const job = await this.mustGet(id);
    if (job.status === 'running') {
      const running = await this.o.repo.items(id, { status: 'running', limit: MAX_JOB_INPUTS });
      for (const item of running) {
        if (!item.invocationId) continue;
        this.watching.set(item.invocationId, { jobId: id, index: item.index, name: item.name });
        await this.catchUp(item.invocationId, `input ${item.index}`, id, item.index);
      }
      await this.pump(id);
    } else if (job.status === 'reducing') {
      if (!job.reduceInvocation) return this.startReduce(job);
      this.watching.set(job.reduceInvocation, { jobId: id, index: 'reduce' });
      await this.catchUp(job.reduceInvocation, 'the reduce', id, 'reduce');
    }
  }

  /** applies a settle that happened while nobody listened (or before the id was known) */
  private async catchUp(
    invocationId: string,
    what: string,
    jobId: string,
    index: number | 'reduce',
  ): Promise<void> {
    const early = this.early.get(invocationId);
    this.early.delete(invocationId);
    const rec = early ?? (await this.o.store.getInvocation(invocationId));
    if (rec && isSettled(rec)) return this.applySettled(rec);
    if (!rec) {
      this.o.logger.warn({ job: jobId, invocation: invocationId }, `jobs: the invocation of ${what} is gone`);
      this.watching.delete(invocationId);
      const gone = {
        status: 'failed' as const,
        outcome: 'error',
        exitCode: null,
        error: `invocation ${invocationId} is no longer in the store`,
        outputBytes: null,
        finishedAt: Date.now(),
      };
      if (index === 'reduce') await this.finishReduce(jobId, 'failed', gone.error);
      else if (await this.o.repo.settle(jobId, index, invocationId, gone))
        this.tally(jobId, 'running', 'failed');
    }
  }

  private async pump(id: string): Promise<void> {
    if (this.closed) return;
    const job = await this.o.repo.get(id);
    if (job?.status !== 'running') return;
    for (;;) {
      let c = await this.countsOf(id);
      if (c.pending === 0 && c.running === 0) {
        // Judged on the store's counts, never on memory alone.
        c = await this.countsOf(id, true);
        if (c.pending === 0 && c.running === 0) {
          if (job.inputsOpen) return;
          this.tallies.delete(id);
          return this.finishItems(job, c);
        }
      }
      const room = job.concurrency - c.running;
      if (room <= 0 || c.pending === 0) return;
      for (const item of await this.o.repo.nextPending(id, room)) {
        if ((await this.submitItem(job, item)) === 'later') return this.later(id);
        if (this.closed) return;
      }
    }
  }

  private async submitItem(job: JobRow, item: ItemRow): Promise<'submitted' | 'failed' | 'later'> {
    const outputTo = await this.outputFile(job.id, `${item.name}.out`);
    this.submitting++;
    try {
      let sub: Awaited<ReturnType<AsyncSubmitter['submit']>>;
      try {
        sub = await this.o.queue.submit({
          ...submitTarget(job.function, job.version),
          payload: EMPTY,
          // The item's bytes are where the upload stored them (fsynced then): the invocation
          // points at them instead of a copy, so a submission writes no file.
          ...(item.inputRef
            ? { input: item.inputRef }
            : {
                payloadRef: {
                  key: jobBlobKey(job.id, item.inputFile),
                  offset: item.inputOffset,
                  length: item.inputBytes,
                },
              }),
          source: jobSource(job.id),
          ...(outputTo ? { outputTo } : {}),
          // The same key after a crash between submit and markRunning finds the first submission.
          idempotencyKey: `job:${job.id}:${item.index}:${item.attempts + 1}`,
        });
      } catch (e) {
        if (refusedForNow(e)) return 'later';
        await this.failUnsubmitted(job.id, item.index, e instanceof Error ? e.message : String(e));
        return 'failed';
      }
      const id = sub.record.id;
      await this.o.repo.markRunning(job.id, item.index, id, Date.now());
      this.tally(job.id, 'pending', 'running');
      // A duplicate may be an older server's submission, made without outputTo: checked at its settle.
      const streamed = outputTo !== undefined && !sub.duplicate;
      this.watching.set(id, { jobId: job.id, index: item.index, name: item.name, streamed });
      if (this.early.has(id) || (sub.duplicate && isSettled(sub.record)))
        await this.catchUp(id, `input ${item.index}`, job.id, item.index);
      return 'submitted';
    } finally {
      this.submitting--;
    }
  }

  private async failUnsubmitted(jobId: string, index: number, error: string): Promise<void> {
    const settled = await this.o.repo.settle(jobId, index, null, {
      status: 'failed',
      outcome: 'error',
      exitCode: null,
      error,
      outputBytes: null,
      finishedAt: Date.now(),
    });
    if (settled) this.tally(jobId, 'pending', 'failed');
  }

  private async finishItems(job: JobRow, c: JobCounts): Promise<void> {
    if (!job.reduce) return this.done(job.id, c, undefined);
    if (c.succeeded === 0) {
      await this.o.repo.update(job.id, { reduceStatus: 'skipped', reduceError: 'no input succeeded' });
      return this.done(job.id, c, undefined);
    }
    await this.o.repo.update(job.id, { status: 'reducing', reduceStatus: 'pending' });
    return this.startReduce({ ...job, status: 'reducing' });
  }

  /** the reduce is fed every succeeded output, concatenated in input order */
  private async startReduce(job: JobRow): Promise<void> {
    const outputs = await this.o.repo.succeededOutputs(job.id);
    const stored = await Promise.all(
      outputs.map(async ({ invocationId }) => {
        const out = await this.o.queue.output(invocationId);
        if (!out) throw new Error(`the output of ${invocationId} is missing from the async store`);
        return out;
      }),
    );
    const total = stored.reduce((a, o) => a + o.bytes, 0);
    if (total > this.o.maxPayloadBytes) {
      return this.finishReduce(
        job.id,
        'failed',
        `the reduce input (${total} bytes from ${stored.length} outputs) is over the payload limit of ${this.o.maxPayloadBytes} bytes; raise AGNI_MAX_PAYLOAD on the server, or reduce in stages`,
      );
    }
    const payload = Buffer.alloc(total);
    let at = 0;
    for (const out of stored) {
      for await (const c of await out.open()) {
        const chunk = c as Buffer;
        if (at + chunk.length > total) throw new Error('an output grew while the reduce input was read');
        chunk.copy(payload, at);
        at += chunk.length;
      }
    }
    let sub: Awaited<ReturnType<AsyncSubmitter['submit']>>;
    const outputTo = await this.outputFile(job.id, 'reduce.out');
    this.submitting++;
    try {
      try {
        sub = await this.o.queue.submit({
          ...submitTarget(job.reduce!, job.reduceVersion),
          payload,
          source: jobSource(job.id),
          ...(outputTo ? { outputTo } : {}),
          idempotencyKey: `job:${job.id}:reduce:${job.run}`,
        });
      } catch (e) {
        if (refusedForNow(e)) {
          this.later(job.id);
          return;
        }
        return this.finishReduce(job.id, 'failed', e instanceof Error ? e.message : String(e));
      }
      const id = sub.record.id;
      await this.o.repo.update(job.id, { reduceStatus: 'running', reduceInvocation: id });
      this.watching.set(id, {
        jobId: job.id,
        index: 'reduce',
        streamed: outputTo !== undefined && !sub.duplicate,
      });
      if (this.early.has(id) || (sub.duplicate && isSettled(sub.record)))
        await this.catchUp(id, 'the reduce', job.id, 'reduce');
    } finally {
      this.submitting--;
    }
  }

  private async reduceSettled(jobId: string, rec: InvocationRecord, streamed: boolean): Promise<void> {
    const job = await this.o.repo.get(jobId);
    if (job?.status !== 'reducing' || job.reduceInvocation !== rec.id) return;
    const unwritten =
      rec.status === 'succeeded' && !streamed
        ? await this.writeOutput(jobId, rec.id, 'reduce.out')
        : undefined;
    const ok = rec.status === 'succeeded' && !unwritten;
    await this.finishReduce(jobId, ok ? 'succeeded' : 'failed', ok ? null : (unwritten ?? describe(rec)));
  }

  /** the job's `output_to` (`VOLUME:/dir`), or null */
  private async target(jobId: string): Promise<string | null> {
    let target = this.targets.get(jobId);
    if (target === undefined) {
      target = (await this.o.repo.get(jobId))?.outputTo ?? null;
      this.targets.set(jobId, target);
    }
    return target;
  }

  /** with `output_to`, the file `name` there: where the queue writes the invocation's stdout itself */
  private async outputFile(jobId: string, name: string): Promise<InputRef | undefined> {
    const target = await this.target(jobId);
    if (target === null) return undefined;
    const { volume, dir } = parseOutputSpec(target, 'output_to');
    return { volume, path: dir ? `${dir}/${name}` : name };
  }

  /**
   * With `output_to`, makes sure a succeeded output is `name` there, for an invocation not known to
   * be submitted with `outputTo` (one watched again after a restart, or a duplicate): the queue
   * wrote it there itself, or it is copied from the queue's store (one an older server submitted).
   * Returns why it could not be (which fails the item), or undefined.
   */
  private async writeOutput(jobId: string, invocationId: string, name: string): Promise<string | undefined> {
    const target = await this.target(jobId);
    if (target === null) return undefined;
    const where = `${target.endsWith('/') ? target : `${target}/`}${name}`;
    try {
      if (!this.o.outputs) throw new Error('this server has no volumes (started without --volume)');
      const out = await this.o.queue.output(invocationId);
      if (!out) throw new Error('its output is missing from the async store');
      if (out.at) return undefined;
      await this.o.outputs.write(target, name, await out.open(), invocationId);
      return undefined;
    } catch (e) {
      const why = e instanceof Error ? e.message : String(e);
      this.o.logger.warn(
        { job: jobId, invocation: invocationId, err: why },
        `jobs: could not write ${where}`,
      );
      // Ours name the file already; the system's (ENOSPC, EACCES, ...) do not.
      return isAgniError(e) ? `output_to: ${why}` : `output_to: could not write ${where}: ${why}`;
    }
  }

  private async finishReduce(
    jobId: string,
    status: 'succeeded' | 'failed',
    error: string | null,
  ): Promise<void> {
    await this.o.repo.update(jobId, { reduceStatus: status, reduceError: error });
    await this.done(jobId, await this.o.repo.counts(jobId), status === 'failed' ? error : undefined);
  }

  private async done(jobId: string, c: JobCounts, reduceError: string | null | undefined): Promise<void> {
    const why: string[] = [];
    if (c.failed > 0) why.push(`${c.failed} of ${c.total} inputs failed`);
    if (reduceError) why.push(`the reduce failed: ${reduceError}`);
    const status: JobStatus = why.length ? 'failed' : 'succeeded';
    await this.o.repo.update(jobId, { status, finishedAt: Date.now(), error: why.join('; ') || null });
    this.targets.delete(jobId); // read again should a retry of it run
  }
}
