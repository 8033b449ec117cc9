/**
 * Durable async invocations. `submit` writes the payload to disk and the invocation to the store
 * before it returns, so an accepted invocation survives a crash; a pump then runs due
 * invocations in the node's free slots, retries failures with the function's backoff and
 * dead-letters those that failed every attempt. After a restart, attempts that were running are
 * queued again (at least once delivery).
 */
import type { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Invoker } from '../app/invoker.js';
import { newRecord, TAIL_BYTES } from '../app/invoker.js';
import { callTimeout } from '../core/call-timeout.js';
import { AgniError } from '../core/errors.js';
import { stamp } from '../core/phases.js';
import { lastAttemptNote, retryDelayMs, verdict } from '../core/retry.js';
import type { Dispatcher } from '../dispatch/dispatcher.js';
import { type AsyncRepo, type AsyncState, newAsyncState } from '../store/async-sql.js';
import { type BlobStore, readBlob } from '../store/blob/blob-store.js';
import type { InvocationRecord, Store } from '../store/store.js';
import type { Resolved, VersionResolver } from '../store/version-resolver.js';
import type { AsyncOutput, AsyncSubmitter, SubmitRequest, Submitted } from './async-types.js';
import { asyncOutputKey, asyncPayloadKey } from './blob-keys.js';

export interface AsyncQueueOptions {
  /** payloads and outputs, by key (src/triggers/blob-keys.ts) */
  blobs: BlobStore;
  store: Store;
  /** NAME, NAME@3, NAME@prod to the version an invocation runs */
  resolver: VersionResolver;
  repo: AsyncRepo;
  invoker: Invoker;
  dispatcher: Dispatcher;
  logger: Logger;
  /** async attempts running at once; sync calls still get the slots async work leaves free */
  maxInFlight: number;
  /** invocations accepted and not yet settled; past it `submit` refuses with `overloaded` (429) */
  maxQueued?: number;
  /** bytes of an invocation's stdout kept; the rest is counted and dropped while it runs on */
  maxOutputBytes?: number;
  /** refuses with `insufficient_storage` when the disk is nearly full, before a payload is written */
  disk?: { check(what: string): Promise<void> };
  /**
   * who this queue claims attempts as; stable across restarts of the same process role, so at
   * start it takes back its own interrupted attempts at once (others' only once their lease expires)
   */
  owner?: string;
  /** how long a claim holds without renewal (ms); renewed every third of it while the attempt runs */
  leaseMs?: number;
}

export const DEFAULT_OWNER = 'embedded';
export const DEFAULT_LEASE_MS = 60_000;

export const DEFAULT_MAX_QUEUED = 10_000;
export const DEFAULT_MAX_OUTPUT_BYTES = 64 * 1024 * 1024;

export interface DeadLetter {
  id: string;
  function: string;
  version: number;
  alias: string | null;
  status: string;
  exitCode: number | null;
  error: string | null;
  attempts: number;
  source: string;
  settledAt: number | null;
  stderrTail: string;
}

/** how often the pump looks again when sync work holds every slot */
const BUSY_POLL_MS = 50;
/** after the pump failed (the store unreachable), it tries again after this */
const PUMP_RETRY_MS = 1_000;
/** an upper bound on sleeping, so a clock jump or a missed kick never stalls the queue */
const MAX_SLEEP_MS = 30_000;

export class AsyncQueue implements AsyncSubmitter {
  private readonly inflight = new Set<string>();
  private readonly attempts = new Set<Promise<void>>();
  private readonly waiters = new Map<string, Set<(r: InvocationRecord) => void>>();
  private readonly listeners = new Set<(r: InvocationRecord) => void>();
  private pumping = false;
  private again = false;
  private closed = false;
  private timer: NodeJS.Timeout | undefined;
  /** accepted and not yet settled: counted from the store at start, then kept here */
  private unsettled = 0;
  /** recent attempt length, for the Retry-After of a full queue */
  private avgAttemptMs = 1000;

  constructor(private readonly o: AsyncQueueOptions) {}

  private get maxQueued(): number {
    return this.o.maxQueued ?? DEFAULT_MAX_QUEUED;
  }

  private get maxOutput(): number {
    return this.o.maxOutputBytes ?? DEFAULT_MAX_OUTPUT_BYTES;
  }

  private get owner(): string {
    return this.o.owner ?? DEFAULT_OWNER;
  }

  private lease(): { owner: string; now: number; until: number } {
    const now = Date.now();
    return { owner: this.owner, now, until: now + (this.o.leaseMs ?? DEFAULT_LEASE_MS) };
  }

  /** the invocation's stored stdout, once it settled (at most `maxOutputBytes` of it) */
  async output(id: string): Promise<AsyncOutput | undefined> {
    const key = asyncOutputKey(id);
    const st = await this.o.blobs.stat(key);
    if (!st) return undefined;
    const blobs = this.o.blobs;
    return {
      bytes: st.bytes,
      open: (opts?: { signal?: AbortSignal }): Promise<Readable> => blobs.open(key, opts),
    };
  }

  /** re-queues attempts a previous process left running, then starts the pump */
  async start(): Promise<number> {
    const requeued = await this.o.repo.requeueInterrupted(Date.now(), this.owner);
    this.unsettled = await this.o.repo.countUnsettled();
    this.kick();
    return requeued;
  }

  async submit(req: SubmitRequest): Promise<Submitted> {
    if (this.closed) throw new AgniError('backend_unavailable', 'the server is shutting down');
    const received = stamp();
    if (req.idempotencyKey) {
      const dup = await this.existing(req.idempotencyKey);
      if (dup) return dup;
    }
    const resolved = await this.o.resolver.resolve(req.function, req.qualifier);
    const v = resolved.version;
    const timeoutMs = callTimeout(req.timeoutMs, v.manifest.limits.timeoutMs, v.function);
    // Taken before any await, so concurrent submissions cannot all pass the check at once.
    this.reserve();
    try {
      return await this.persist(resolved, { ...req, timeoutMs }, received);
    } catch (e) {
      this.unsettled--;
      throw e;
    }
  }

  /** refuses (429) when the queue is full, so a route can answer before it reads the payload */
  assertRoom(): void {
    if (this.unsettled >= this.maxQueued) {
      const waitS = Math.ceil(
        ((this.unsettled / Math.max(1, this.o.maxInFlight)) * this.avgAttemptMs) / 1000,
      );
      throw new AgniError(
        'overloaded',
        `the async queue is full (${this.maxQueued} invocations accepted and not yet finished)`,
        {
          hint: 'retry after the time in the Retry-After header, or raise `agni up --async-queue`',
          details: { retry_after_s: Math.min(300, Math.max(1, waitS)), limit: this.maxQueued },
        },
      );
    }
  }

  /** counts one more waiting invocation, or refuses (nothing is written yet) when the queue is full */
  private reserve(): void {
    this.assertRoom();
    this.unsettled++;
  }

  private async persist(
    { version: fn, alias }: Resolved,
    req: SubmitRequest,
    received: number,
  ): Promise<Submitted> {
    await this.o.disk?.check('storing an async payload');
    const record = newRecord(fn, req.payload.length, { received, queued: stamp() }, alias);
    // Every attempt, and a retry from the dead-letter list, runs with this timeout and request.
    if (req.timeoutMs !== undefined) record.timeoutMs = req.timeoutMs;
    // The payload is on disk (fsynced) before the row that points at it, and the row is
    // committed before we answer: what was accepted survives a SIGKILL.
    const payloadKey = asyncPayloadKey(record.id);
    await this.o.blobs.put(payloadKey, req.payload);
    const created = await this.o.repo.create(
      record,
      newAsyncState({
        id: record.id,
        function: fn.function,
        maxAttempts: fn.manifest.retries + 1,
        idempotencyKey: req.idempotencyKey ?? null,
        callbackUrl: req.callbackUrl ?? null,
        source: req.source ?? 'api',
        request: req.request ?? null,
        input: req.input ?? null,
      }),
    );
    if (!created) {
      // Lost a race with a concurrent submission of the same key.
      await this.o.blobs.delete(payloadKey);
      this.unsettled--;
      const dup = req.idempotencyKey ? await this.existing(req.idempotencyKey) : undefined;
      if (dup) return dup;
      this.unsettled++; // the caller's catch takes it back
      throw new AgniError('conflict', 'the invocation could not be stored; try again');
    }
    this.kick();
    return { record, duplicate: false };
  }

  private async existing(key: string): Promise<Submitted | undefined> {
    const st = await this.o.repo.byKey(key);
    if (!st) return undefined;
    const record = await this.o.store.getInvocation(st.id);
    return record ? { record, duplicate: true } : undefined;
  }

  async state(id: string): Promise<{ record: InvocationRecord; state: AsyncState } | undefined> {
    const state = await this.o.repo.get(id);
    if (!state) return undefined;
    const record = await this.o.store.getInvocation(id);
    return record ? { record, state } : undefined;
  }

  async wait(id: string, timeoutMs: number): Promise<InvocationRecord> {
    // Listening before looking: a settle between the read and the subscription is not missed.
    let wake: (r: InvocationRecord) => void = () => {};
    const settled = new Promise<InvocationRecord>((resolve) => {
      wake = resolve;
    });
    const set = this.waiters.get(id) ?? new Set<(r: InvocationRecord) => void>();
    this.waiters.set(id, set);
    set.add(wake);
    let t: ReturnType<typeof setTimeout> | undefined;
    try {
      const cur = await this.state(id);
      if (!cur) throw new AgniError('invocation_not_found', `no async invocation ${id}`);
      if (cur.state.settledAt !== null || timeoutMs <= 0) return cur.record;
      const timedOut = new Promise<undefined>((resolve) => {
        t = setTimeout(() => resolve(undefined), timeoutMs);
      });
      const r = await Promise.race([settled, timedOut]);
      return r ?? (await this.o.store.getInvocation(id).catch(() => undefined)) ?? cur.record;
    } finally {
      clearTimeout(t);
      set.delete(wake);
      if (set.size === 0 && this.waiters.get(id) === set) this.waiters.delete(id);
    }
  }

  onSettled(listener: (rec: InvocationRecord) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** invocations that failed every attempt, newest first */
  async deadLetters(q: { function?: string; limit: number }): Promise<DeadLetter[]> {
    const rows = await this.o.repo.deadLetters(q);
    return rows.map(({ state, invocation: r }) => ({
      id: r.id,
      function: r.function,
      version: r.version,
      alias: r.alias,
      status: r.status,
      exitCode: r.exitCode,
      error: r.error,
      attempts: state.attempts,
      source: state.source,
      settledAt: state.settledAt,
      stderrTail: r.stderrTail.slice(-2048),
    }));
  }

  /** puts a dead-lettered invocation back in the queue with a fresh set of attempts */
  async retry(id: string): Promise<void> {
    const st = await this.o.repo.get(id);
    if (!st) throw new AgniError('invocation_not_found', `no async invocation ${id}`);
    if (!st.deadLetter) {
      throw new AgniError('conflict', `${id} is not in the dead-letter list`, {
        hint: 'only invocations that failed every attempt can be retried; see `agni failed`',
      });
    }
    this.reserve();
    if (!(await this.o.repo.revive(id, Date.now()))) this.unsettled--;
    this.kick();
  }

  /** stops starting attempts; `drain` then waits for the running ones */
  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
  }

  async drain(): Promise<void> {
    while (this.attempts.size > 0) await Promise.allSettled([...this.attempts]);
    for (const [id, set] of this.waiters) {
      const rec = await this.o.store.getInvocation(id).catch(() => undefined);
      if (rec) for (const w of [...set]) w(rec);
    }
  }

  /** wakes the pump; safe to call from anywhere, any number of times */
  kick(): void {
    if (this.closed) return;
    if (this.pumping) {
      this.again = true;
      return;
    }
    this.pumping = true;
    void this.pump()
      .catch((e) => {
        this.o.logger.error({ err: e }, 'async queue: pump failed');
        // The store is away, say: look again soon, or work already due waits for the next submit.
        clearTimeout(this.timer);
        if (!this.closed) this.timer = setTimeout(() => this.kick(), PUMP_RETRY_MS);
      })
      .finally(() => {
        this.pumping = false;
      });
  }

  private async pump(): Promise<void> {
    clearTimeout(this.timer);
    let busy = false;
    do {
      this.again = false;
      const s = this.o.dispatcher.stats();
      const freeSlots = s.slots - s.running - s.queued;
      const room = Math.min(this.o.maxInFlight - this.inflight.size, freeSlots);
      busy = freeSlots <= 0 && this.inflight.size < this.o.maxInFlight;
      if (room > 0) {
        const due = await this.o.repo.due(Date.now(), room, this.inflight);
        for (const st of due) this.startAttempt(st);
      }
    } while (this.again && !this.closed);
    if (this.closed) return;
    if (busy) {
      this.timer = setTimeout(() => this.kick(), BUSY_POLL_MS);
    } else if (this.inflight.size < this.o.maxInFlight) {
      const next = await this.o.repo.nextDueAt();
      if (next !== null) {
        const delay = Math.min(MAX_SLEEP_MS, Math.max(0, next - Date.now()));
        this.timer = setTimeout(() => this.kick(), delay);
      }
    }
  }

  private startAttempt(st: AsyncState): void {
    this.inflight.add(st.id);
    const p = this.attempt(st)
      .catch((e) => this.o.logger.error({ err: e, invocation: st.id }, 'async queue: attempt failed'))
      .finally(() => {
        this.inflight.delete(st.id);
        this.attempts.delete(p);
        this.kick();
      });
    this.attempts.add(p);
  }

  private async attempt(st: AsyncState): Promise<void> {
    const { store, repo } = this.o;
    const record = await store.getInvocation(st.id);
    if (!record) return;
    const attempt = await repo.claim(st.id, this.lease());
    // Another owner took it first (or it is no longer queued): theirs to run.
    if (attempt === undefined) return;
    const leaseMs = this.o.leaseMs ?? DEFAULT_LEASE_MS;
    const renewal = setInterval(() => {
      repo
        .renew(st.id, this.lease())
        .catch((e) => this.o.logger.warn({ err: e }, 'async queue: lease renewal failed'));
    }, leaseMs / 3);
    renewal.unref();
    try {
      await this.runAttempt(st, record, attempt);
    } finally {
      clearInterval(renewal);
    }
  }

  private async runAttempt(st: AsyncState, record: InvocationRecord, attempt: number): Promise<void> {
    const { store, repo } = this.o;
    const fn = await store.getVersion(record.function, record.version);
    let payload: Buffer | undefined;
    try {
      payload = await readBlob(this.o.blobs, asyncPayloadKey(st.id));
    } catch {
      // handled below: an invocation without its payload cannot run
    }
    if (!fn || !payload) {
      const why = !fn
        ? `version ${record.version} of ${record.function} was removed before it could run`
        : 'its payload file is missing from the async store';
      await store.updateInvocation(st.id, { status: 'error', error: why });
      await this.settle(st, true);
      return;
    }
    // Each attempt keeps when it was received and queued, and stamps the rest afresh.
    record.phases = { received: record.phases.received, queued: record.phases.queued };
    record.status = 'running';
    // What the last attempt left there ("next attempt in ...") is no error of this one.
    record.error = null;
    // Only the first maxOutput bytes are kept; the function runs on, and the rest is counted.
    const out = await this.o.blobs.writer(asyncOutputKey(st.id), { limit: this.maxOutput });
    const t0 = performance.now();
    let after: InvocationRecord;
    try {
      ({ record: after } = await this.o.invoker.run(
        record,
        fn,
        payload,
        { onStdout: (chunk) => out.write(chunk) },
        st.request ?? undefined,
        st.input ?? undefined,
      ));
    } catch (e) {
      await out.abort();
      throw e;
    }
    const kept = out.kept;
    this.avgAttemptMs = this.avgAttemptMs * 0.9 + (performance.now() - t0) * 0.1;
    if (after.stdoutBytes > kept) {
      const note = `agni: output truncated: kept the first ${kept} of ${after.stdoutBytes} bytes (the server's limit, agni up --max-output)\n`;
      after.stderrTail = `${after.stderrTail.slice(-(TAIL_BYTES - note.length))}${after.stderrTail.endsWith('\n') || after.stderrTail === '' ? '' : '\n'}${note}`;
      await store.updateInvocation(st.id, { stderrTail: after.stderrTail });
    }
    if (this.closed) {
      // Stopped by a shutdown, not by the function: run it again after the restart.
      await store.updateInvocation(st.id, { status: 'queued' });
      await repo.update(st.id, { attempts: attempt - 1, nextAttemptAt: Date.now(), release: true });
      await out.abort();
      return;
    }
    const v = verdict(after.status === 'succeeded', attempt, st.maxAttempts);
    if (v === 'retry') {
      const delay = retryDelayMs(attempt, fn.manifest.backoff);
      await repo.update(st.id, { nextAttemptAt: Date.now() + delay, release: true });
      await store.updateInvocation(st.id, {
        status: 'queued',
        error: `attempt ${attempt} of ${st.maxAttempts} ended ${after.status}${after.exitCode === null ? '' : ` (exit ${after.exitCode})`}; next attempt in ${delay} ms`,
      });
      await out.abort();
      return;
    }
    // After retries the error field still tells of the attempt before ("next attempt in ..."):
    // say how the last one ended instead (a single attempt's record speaks for itself).
    if (attempt > 1)
      await store.updateInvocation(st.id, { error: v === 'dead' ? lastAttemptNote(after, attempt) : null });
    await out.commit();
    await this.settle(st, v === 'dead');
  }

  private async settle(st: AsyncState, dead: boolean): Promise<void> {
    const now = Date.now();
    this.unsettled = Math.max(0, this.unsettled - 1);
    await this.o.repo.update(st.id, {
      settledAt: now,
      nextAttemptAt: null,
      deadLetter: dead,
      release: true,
      ...(st.callbackUrl ? { callbackState: 'pending' as const, callbackNextAt: now } : {}),
    });
    // A dead-lettered invocation keeps its payload so `agni failed --retry` can run it again.
    if (!dead) await this.o.blobs.delete(asyncPayloadKey(st.id));
    const rec = await this.o.store.getInvocation(st.id);
    if (!rec) return;
    for (const w of [...(this.waiters.get(st.id) ?? [])]) w(rec);
    for (const l of this.listeners) {
      try {
        l(rec);
      } catch (e) {
        this.o.logger.error({ err: e }, 'async queue: a settle listener threw');
      }
    }
    if (dead) {
      this.o.logger.warn(
        { invocation: st.id, function: st.function, status: rec.status },
        'async invocation failed every attempt; see `agni failed`',
      );
    }
  }
}
