/**
 * Durable async invocations. `submit` writes the payload to the blob store and the invocation to
 * the store before it returns, so an accepted invocation survives a crash, then enqueues it on the
 * work queue (src/triggers/work-queue.ts). Deliveries run in the node's free slots; failures are
 * retried with the function's backoff and dead-lettered once they failed every attempt. At least
 * once: the store's claim (owner and lease, by compare-and-set) is the fence that keeps a
 * redelivered item from running twice at once, and an item whose owner's lease expired is taken
 * over. In-process (`agni up`) the queue lives in memory and is filled again from the store at
 * start; on JetStream (cluster servers) it outlives every server.
 */
import { Readable } from 'node:stream';
import type { Logger } from 'pino';
import type { Invoker } from '../app/invoker.js';
import { newRecord, TAIL_BYTES } from '../app/invoker.js';
import { callTimeout } from '../core/call-timeout.js';
import { AgniError, isAgniError } from '../core/errors.js';
import type { Metrics } from '../core/metrics.js';
import { stamp } from '../core/phases.js';
import { lastAttemptNote, retryDelayMs, verdict } from '../core/retry.js';
import { assertWritesVolume, type InputRef, refText } from '../core/volumes.js';
import type { Dispatcher } from '../dispatch/dispatcher.js';
import { type AsyncPatch, type AsyncRepo, type AsyncState, newAsyncState } from '../store/async-sql.js';
import { type BlobStore, readBlob } from '../store/blob/blob-store.js';
import type { InvocationRecord, Store } from '../store/store.js';
import type { Resolved, VersionResolver } from '../store/version-resolver.js';
import type {
  AsyncOutput,
  AsyncSubmitter,
  OutputVolumes,
  SettleInfo,
  SubmitRequest,
  Submitted,
} from './async-types.js';
import { asyncOutputKey, asyncPayloadKey } from './blob-keys.js';
import { HeldOutput } from './held-output.js';
import { InProcessWorkQueue } from './in-process-work-queue.js';
import {
  type Delivery,
  IDLE_POLL_MS,
  type WorkConsumer,
  type WorkItem,
  type WorkQueue,
} from './work-queue.js';

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
  /** what is due and who runs it; in-process (memory, refilled from the store at start) unless given */
  work?: WorkQueue;
  /**
   * durable queues only: how often the store is swept for queued invocations that no item in the
   * queue names (accepted while NATS was away, or a crash between the row and the publish)
   */
  sweepMs?: number;
  /** told each invocation this queue settles (cluster: publish it so other servers' waiters wake) */
  announceSettled?: (id: string) => void;
  /** retries and dead letters are counted here */
  metrics?: Pick<Metrics, 'asyncRetried' | 'asyncDeadLettered'>;
  /** where an invocation with `outputTo` writes its stdout (the server's volumes); absent: it fails */
  outputs?: Pick<OutputVolumes, 'writer' | 'read'>;
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

export const DEFAULT_SWEEP_MS = 30_000;
/** an invocation due this long without being run, and named by no item, is enqueued again */
const STALE_MS = 10_000;
/** the longest a given-up item waits for its owner's lease to run out before it is judged */
const MAX_LEASE_WAIT_MS = 5 * 60_000;
/** a delivery for an invocation this process already runs comes back after this */
const BUSY_NAK_MS = 1_000;

export class AsyncQueue implements AsyncSubmitter {
  private readonly inflight = new Set<string>();
  /**
   * attempts before or in their sandbox: what counts against maxInFlight. An attempt leaves it as
   * soon as its sandbox ended, so the next one is picked up while this one's outcome is stored.
   */
  private readonly occupying = new Set<string>();
  /**
   * attempts taken ahead of a slot: their store work (claim, reads) runs while others' sandboxes
   * do, and they wait at the gate (`slotFor`) before dispatching, so that work is off the path
   * from one item's end to the next one's start
   */
  private readonly ahead = new Set<string>();
  private readonly gateWaiters = new Set<() => void>();
  private readonly attempts = new Set<Promise<void>>();
  private readonly waiters = new Map<string, Set<(r: InvocationRecord) => void>>();
  private readonly listeners = new Set<(r: InvocationRecord, how?: SettleInfo) => void>();
  private closed = false;
  private readonly work: WorkQueue;
  private consumer: WorkConsumer | undefined;
  private sweeper: NodeJS.Timeout | undefined;
  /** accepted and not yet settled: counted from the store at start, then kept here */
  private unsettled = 0;
  /** recent attempt length, for the Retry-After of a full queue */
  private avgAttemptMs = 1000;

  constructor(private readonly o: AsyncQueueOptions) {
    this.work = o.work ?? new InProcessWorkQueue();
    this.work.onExhausted((item, n) => this.exhausted(item, n));
  }

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
    // A small one is in its row (see HeldOutput), a larger one a blob.
    const held = await this.o.repo.output(id);
    if (held) return { bytes: held.length, open: async () => Readable.from(held.length ? [held] : []) };
    const key = asyncOutputKey(id);
    const st = await this.o.blobs.stat(key);
    if (!st) {
      // Written straight to a volume: there, once it succeeded (a failed attempt's is not kept, and
      // whatever is at that path then is not its output).
      const async = await this.o.repo.get(id);
      if (!async?.outputTo || async.settledAt === null || async.deadLetter || !this.o.outputs)
        return undefined;
      return this.o.outputs.read(async.outputTo);
    }
    const blobs = this.o.blobs;
    return {
      bytes: st.bytes,
      open: (opts?: { signal?: AbortSignal }): Promise<Readable> => blobs.open(key, opts),
    };
  }

  /**
   * re-queues attempts a previous process left running (only those nobody holds), fills an
   * in-process queue from the store, then starts taking deliveries
   */
  async start(): Promise<number> {
    const requeued = await this.o.repo.requeueInterrupted(Date.now(), this.owner);
    this.unsettled = await this.o.repo.countUnsettled();
    if (!this.work.durable) {
      for (const st of await this.o.repo.due(Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER, new Set())) {
        await this.work.enqueue(workItem(st.id, st.nextAttemptAt));
      }
    }
    this.consumer = this.work.consume((d) => this.startAttempt(d), { room: () => this.room() });
    if (this.work.durable) {
      const every = this.o.sweepMs ?? DEFAULT_SWEEP_MS;
      const sweep = () => {
        this.sweeper = setTimeout(() => {
          void this.sweep()
            .catch((e) => this.o.logger.warn({ err: e }, 'async queue: the sweep failed'))
            .finally(() => {
              if (!this.closed) sweep();
            });
        }, every);
        this.sweeper.unref();
      };
      await this.sweep().catch((e) => this.o.logger.warn({ err: e }, 'async queue: the sweep failed'));
      sweep();
    }
    return requeued;
  }

  /** how many more attempts this process takes now: its share of async work and the free slots */
  private room(): number {
    if (this.closed) return 0;
    const s = this.o.dispatcher.stats();
    const freeSlots = s.slots - s.running - s.queued;
    // As many taken ahead as may run at once, besides those that run (or may run now).
    const max = this.o.maxInFlight;
    const running = Math.min(max - this.occupying.size, freeSlots);
    return Math.max(0, Math.min(running + max - this.ahead.size, 2 * max - this.inflight.size + max));
  }

  /** whether an attempt taken ahead may dispatch now: its share of async work, and a free slot */
  private mayDispatch(): boolean {
    const s = this.o.dispatcher.stats();
    return this.occupying.size < this.o.maxInFlight && s.slots - s.running - s.queued > 0;
  }

  /**
   * Waits until the attempt may take a slot (or the queue closes: false). Woken when an attempt
   * vacates one; a slot that a sync call frees wakes nobody, hence the short poll.
   */
  private async slotFor(id: string): Promise<boolean> {
    while (!this.closed && !this.mayDispatch()) {
      await new Promise<void>((resolve) => {
        const t = setTimeout(done, IDLE_POLL_MS);
        const waiters = this.gateWaiters;
        function done() {
          clearTimeout(t);
          waiters.delete(done);
          resolve();
        }
        waiters.add(done);
      });
    }
    this.ahead.delete(id);
    if (this.closed) return false;
    this.occupying.add(id);
    return true;
  }

  /** queued invocations long due that no item in the queue names are enqueued again */
  private async sweep(): Promise<number> {
    let n = 0;
    const stale = await this.o.repo.due(Date.now() - STALE_MS, 100, this.inflight);
    for (const st of stale) {
      if (this.closed) break;
      if (await this.work.holds(st.id)) continue;
      await this.work.enqueue(workItem(st.id, st.nextAttemptAt));
      n++;
    }
    // Attempts whose server died and that no delivery took over: their item was given up while
    // no server listened for it. A fresh item brings them back (the claim takes them over).
    for (const st of await this.o.repo.expiredLeases(Date.now() - STALE_MS, 100)) {
      if (this.closed) break;
      await this.work.replace(workItem(st.id));
      n++;
    }
    if (n > 0)
      this.o.logger.warn(
        { enqueued: n },
        'async queue: invocations missing from the work queue were enqueued',
      );
    return n;
  }

  async submit(req: SubmitRequest): Promise<Submitted> {
    if (this.closed) throw new AgniError('backend_unavailable', 'the server is shutting down');
    const received = stamp();
    // With nothing to write before the rows (a job's item), the insert's unique key finds a
    // duplicate as surely, and a lookup per submission is saved.
    if (req.idempotencyKey && ownsPayload(req)) {
      const dup = await this.existing(req.idempotencyKey);
      if (dup) return dup;
    }
    const resolved = await this.o.resolver.resolve(req.function, req.qualifier);
    const v = resolved.version;
    const timeoutMs = callTimeout(req.timeoutMs, v.manifest.limits.timeoutMs, v.function);
    // Written on the function's behalf: only where that version itself may write. A job checks
    // at creation; an alias it names may have moved since to a version without the mount.
    if (req.outputTo) assertWritesVolume(v, req.outputTo.volume, 'output_to');
    // Taken before any await, so concurrent submissions cannot all pass the check at once.
    this.reserve();
    try {
      return await this.persist(resolved, { ...req, timeoutMs }, received);
    } catch (e) {
      this.unsettled--;
      throw e;
    }
  }

  /** invocations accepted and not yet settled (the backlog metrics show) */
  backlog(): number {
    return this.unsettled;
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
    // Nothing of its own to write (a job's stored input, a file on a volume): nothing to check.
    if (ownsPayload(req)) await this.o.disk?.check('storing an async payload');
    const bytes = req.payloadRef?.length ?? req.payload.length;
    const record = newRecord(fn, bytes, { received, queued: stamp() }, alias);
    // Every attempt, and a retry from the dead-letter list, runs with this timeout and request.
    if (req.timeoutMs !== undefined) record.timeoutMs = req.timeoutMs;
    // The payload is on disk (fsynced) before the row that points at it, and the row is
    // committed before we answer: what was accepted survives a SIGKILL. A payload that is
    // stored already (a job's inputs), or empty (an input by reference), has no blob of its own:
    // one fsync per item less.
    const payloadKey = asyncPayloadKey(record.id);
    if (ownsPayload(req)) await this.o.blobs.put(payloadKey, req.payload);
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
        payloadRef: req.payloadRef ?? null,
        outputTo: req.outputTo ?? null,
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
    this.o.invoker.received(record);
    await this.enqueue(record.id);
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

  onSettled(listener: (rec: InvocationRecord, how?: SettleInfo) => void): () => void {
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

  /**
   * The invocation is stored: a failed enqueue (NATS away) loses nothing, as the sweep enqueues
   * queued invocations that no item names.
   */
  private async enqueue(id: string, notBefore?: number): Promise<void> {
    try {
      await this.work.enqueue(workItem(id, notBefore));
    } catch (e) {
      this.o.logger.warn(
        { err: e, invocation: id },
        'async queue: enqueue failed; the sweep will enqueue it',
      );
    }
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
    if (!(await this.o.repo.revive(id, Date.now()))) {
      this.unsettled--;
      return;
    }
    await this.enqueue(id);
  }

  /** stops starting attempts; `drain` then waits for the running ones */
  close(): void {
    this.closed = true;
    clearTimeout(this.sweeper);
    this.stopping = this.consumer?.stop();
  }

  private stopping: Promise<void> | undefined;
  /** payload deletions under way (deletePayload) */
  private readonly deleting = new Set<Promise<void>>();

  async drain(): Promise<void> {
    await this.stopping;
    while (this.attempts.size > 0) await Promise.allSettled([...this.attempts]);
    await Promise.allSettled([...this.deleting]);
    // In-process items die with the process (the store has them); a JetStream queue stays.
    if (!this.work.durable) await this.work.close();
    for (const [id, set] of this.waiters) {
      const rec = await this.o.store.getInvocation(id).catch(() => undefined);
      if (rec) for (const w of [...set]) w(rec);
    }
  }

  /** room may have grown: the consumer looks again now; safe to call any number of times */
  kick(): void {
    for (const w of [...this.gateWaiters]) w();
    if (!this.closed) this.consumer?.wake();
  }

  /**
   * An invocation settled on another server (cluster mode, heard on the event bus): wakes this
   * server's waiters and settle listeners (jobs), as a local settle does.
   */
  async settledElsewhere(id: string): Promise<void> {
    if (!this.waiters.has(id) && this.listeners.size === 0) return;
    const rec = await this.o.store.getInvocation(id);
    if (!rec || rec.status === 'queued' || rec.status === 'running') return;
    const st = await this.o.repo.get(id);
    if (!st || st.settledAt === null) return;
    this.tell(rec);
  }

  private startAttempt(d: Delivery): void {
    const id = d.item.invocationId;
    if (this.inflight.has(id)) {
      // A duplicate item, or a redelivery of what this process runs now: the running one acks.
      void d.nak(BUSY_NAK_MS).catch(() => {});
      return;
    }
    this.inflight.add(id);
    this.ahead.add(id);
    const p = this.attempt(d)
      .catch(async (e) => {
        this.o.logger.error({ err: e, invocation: id }, 'async queue: attempt failed');
        // The store (or NATS) failed us: the item comes back, and the claim decides then.
        await d.nak(this.o.leaseMs ?? DEFAULT_LEASE_MS).catch(() => {});
      })
      .finally(() => {
        this.inflight.delete(id);
        this.occupying.delete(id);
        this.ahead.delete(id);
        this.attempts.delete(p);
        this.kick();
      });
    this.attempts.add(p);
  }

  private vacate(id: string): void {
    if (this.occupying.delete(id)) this.kick();
  }

  /** what a delivery does when it may not run now: ack what is done, hand back what is not yet */
  private async handBack(d: Delivery, st: AsyncState | undefined): Promise<void> {
    if (!st) return d.term();
    if (st.settledAt !== null) return d.ack();
    const now = Date.now();
    if (st.owner !== null && st.leaseUntil !== null && st.leaseUntil >= now) {
      // Held by a live owner (another server, or this one before a restart): look again when
      // its lease would have run out; if it finished by then, that delivery acks.
      return d.nak(st.leaseUntil - now + 100);
    }
    if (st.nextAttemptAt !== null && st.nextAttemptAt > now) return d.nak(st.nextAttemptAt - now);
    // Released and not queued, yet not an ended attempt either (a write still in flight): soon.
    return d.nak(BUSY_NAK_MS);
  }

  private async attempt(d: Delivery): Promise<void> {
    const { repo } = this.o;
    const id = d.item.invocationId;
    const both = await repo.getWithRecord(id);
    if (!both) return d.term();
    const { state: st, record } = both;
    if (st.settledAt !== null) return d.ack();
    if (st.nextAttemptAt !== null && st.nextAttemptAt > Date.now()) return this.handBack(d, st);
    const claimed = await repo.claim(id, this.lease());
    const attempt =
      claimed ?? (await repo.takeOver(id, this.lease())) ?? (await repo.resumeEnded(id, this.lease()));
    // Another owner holds it, or it is not queued: theirs to run, or not yet.
    if (attempt === undefined) return this.handBack(d, await repo.get(id));
    // Taken over from an owner that died, delivered again, queued again after a crash (its record
    // says "interrupted: ..."), or a retry: an earlier attempt may have been cut short mid-write.
    const again = claimed === undefined || claimed > 1 || d.deliveries > 1 || record.error !== null;
    const leaseMs = this.o.leaseMs ?? DEFAULT_LEASE_MS;
    const renewal = setInterval(() => {
      d.inProgress();
      repo
        .renew(id, this.lease())
        .catch((e) => this.o.logger.warn({ err: e }, 'async queue: lease renewal failed'));
    }, Math.min(leaseMs, this.work.ackWaitMs) / 3);
    renewal.unref();
    try {
      await this.runAttempt(st, record, attempt, again, d);
    } finally {
      clearInterval(renewal);
    }
  }

  /** its own blob, the range of a blob it points at, or nothing for an empty payload (none stored) */
  private async payloadOf(st: AsyncState, record: InvocationRecord): Promise<Buffer> {
    const ref = st.payloadRef;
    if (ref) return readBlob(this.o.blobs, ref.key, { range: { start: ref.offset, length: ref.length } });
    const own = await readBlob(this.o.blobs, asyncPayloadKey(st.id)).catch((e) => {
      // Submitted empty: no blob was written (older servers wrote an empty one).
      if (record.payloadBytes === 0 && st.input !== null) return Buffer.alloc(0);
      throw e;
    });
    return own;
  }

  private async runAttempt(
    st: AsyncState,
    record: InvocationRecord,
    attempt: number,
    again: boolean,
    d: Delivery,
  ): Promise<void> {
    const { store, repo } = this.o;
    const fn = await store.getVersion(record.function, record.version);
    let payload: Buffer | undefined;
    try {
      payload = await this.payloadOf(st, record);
    } catch {
      // handled below: an invocation without its payload cannot run
    }
    if (!fn || !payload) {
      const why = !fn
        ? `version ${record.version} of ${record.function} was removed before it could run`
        : 'its payload file is missing from the async store';
      await this.settle(st, true, { record: { status: 'error', error: why } });
      await d.ack();
      return;
    }
    // Each attempt keeps when it was received and queued, and stamps the rest afresh.
    record.phases = { received: record.phases.received, queued: record.phases.queued };
    record.status = 'running';
    // What the last attempt left there ("next attempt in ...") is no error of this one.
    record.error = null;
    // Only the first maxOutput bytes are kept; the function runs on, and the rest is counted.
    if (!(await this.slotFor(st.id))) {
      // Shut down while it waited for a slot: not an attempt; the next start runs it.
      await repo.update(st.id, {
        attempts: attempt - 1,
        nextAttemptAt: Date.now(),
        release: true,
        record: { status: 'queued' },
      });
      await d.nak(0);
      return;
    }
    const out = st.outputTo
      ? await this.volumeOutput(st, st.outputTo, again)
      : new HeldOutput(
          () => this.o.blobs.writer(asyncOutputKey(st.id), { limit: this.maxOutput }),
          this.maxOutput,
        );
    if (!out) {
      // Its file cannot be made (a link on the way, no such volume): nothing ran; it fails as is.
      await d.ack();
      return;
    }
    const t0 = performance.now();
    let after: InvocationRecord;
    let failure: unknown;
    try {
      ({ record: after, error: failure } = await this.o.invoker.run(
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
    // The sandbox is done: the next attempt may start while this one's outcome is written.
    this.vacate(st.id);
    const kept = out.kept;
    this.avgAttemptMs = this.avgAttemptMs * 0.9 + (performance.now() - t0) * 0.1;
    if (after.stdoutBytes > kept) {
      const note = `agni: output truncated: kept the first ${kept} of ${after.stdoutBytes} bytes (the server's limit, agni up --max-output)\n`;
      after.stderrTail = `${after.stderrTail.slice(-(TAIL_BYTES - note.length))}${after.stderrTail.endsWith('\n') || after.stderrTail === '' ? '' : '\n'}${note}`;
      await store.updateInvocation(st.id, { stderrTail: after.stderrTail });
    }
    const lost = isNodeLost(failure);
    if (lost && d.deliveries >= this.work.maxDeliveries) {
      await out.abort();
      await this.settle(st, true, {
        record: {
          status: 'error',
          error: `its node was lost on each of ${d.deliveries} deliveries (${after.error ?? 'node lost'}); given up`,
        },
      });
      await d.ack();
      return;
    }
    if (this.closed || lost) {
      // Stopped by a shutdown or a lost node, not by the function: not an attempt of it; run it
      // again (elsewhere at once on a shared queue; in-process after the restart).
      await repo.update(st.id, {
        attempts: attempt - 1,
        nextAttemptAt: Date.now(),
        release: true,
        record: {
          status: 'queued',
          error: lost ? `interrupted: ${after.error ?? 'its node was lost'}; delivered again` : null,
        },
      });
      await out.abort();
      await d.nak(lost ? lostRedeliveryMs(d.deliveries) : 0);
      return;
    }
    const v = verdict(after.status === 'succeeded', attempt, st.maxAttempts);
    if (v === 'retry') {
      this.o.metrics?.asyncRetried(record.function);
      const delay = retryDelayMs(attempt, fn.manifest.backoff);
      const at = Date.now() + delay;
      await repo.update(st.id, {
        nextAttemptAt: at,
        release: true,
        record: {
          status: 'queued',
          error: `attempt ${attempt} of ${st.maxAttempts} ended ${after.status}${after.exitCode === null ? '' : ` (exit ${after.exitCode})`}; next attempt in ${delay} ms`,
        },
      });
      await out.abort();
      // A fresh item for the next attempt, so the delivery bound counts lost deliveries of one
      // attempt, not the function's retries; a crash between the two leaves a duplicate, which
      // the claim turns away.
      await this.work.enqueue(workItem(st.id, at));
      await d.ack();
      return;
    }
    // After retries the error field still tells of the attempt before ("next attempt in ..."):
    // say how the last one ended instead (a single attempt's record speaks for itself).
    if (attempt > 1) after.error = v === 'dead' ? lastAttemptNote(after, attempt) : null;
    let output: Buffer | undefined;
    if (st.outputTo && v === 'dead') {
      // Only a success puts its file in place: a failed output never stands where results go.
      await out.abort();
    } else if (st.outputTo) {
      try {
        await out.commit();
      } catch (e) {
        await this.settle(st, true, {
          record: {
            status: 'error',
            error: `output_to: could not write ${refText(st.outputTo)}: ${errorText(e)}`,
          },
        });
        await d.ack();
        return;
      }
    } else output = await out.commit();
    // `after` is the record as stored with the settle: its listeners get it without reading it back.
    await this.settle(st, v === 'dead', {
      output,
      record: attempt > 1 ? { error: after.error } : undefined,
      stored: { ...after },
    });
    await d.ack();
  }

  /**
   * The attempt's stdout as the file `file` on a volume, opened before the sandbox starts; when it
   * cannot be (a link on the way, no such volume here), the invocation is settled failed, saying
   * why, and undefined returned.
   */
  private async volumeOutput(
    st: AsyncState,
    file: InputRef,
    again: boolean,
  ): Promise<Pick<HeldOutput, 'write' | 'kept' | 'commit' | 'abort'> | undefined> {
    try {
      if (!this.o.outputs) throw new Error('this server has no volumes (started without --volume)');
      const w = await this.o.outputs.writer(file, this.maxOutput, { writer: st.id, sweep: again });
      return {
        write: (chunk) => w.write(chunk),
        get kept() {
          return w.kept;
        },
        commit: async () => {
          await w.commit();
          return undefined;
        },
        abort: () => w.abort(),
      };
    } catch (e) {
      this.vacate(st.id);
      // Ours name the file already; the system's (EACCES, ENOSPC, ...) do not.
      const why = isAgniError(e) ? e.message : `could not write ${refText(file)}: ${errorText(e)}`;
      await this.settle(st, true, { record: { status: 'error', error: `output_to: ${why}` } });
      return undefined;
    }
  }

  /**
   * The queue gave an item up: delivered `maxDeliveries` times, each time its server died before
   * ending the delivery. Dead-lettered, saying why, unless a live owner still runs it.
   */
  private async exhausted(item: WorkItem, deliveries: number): Promise<void> {
    const id = item.invocationId;
    let st = await this.o.repo.get(id);
    if (!st || st.settledAt !== null) return;
    const held = st.leaseUntil;
    if (st.owner !== null && held !== null && held >= Date.now()) {
      // The lease outlives the ack wait: look again once it ran out, unless its owner renewed it.
      await new Promise((r) => setTimeout(r, Math.min(held - Date.now() + 100, MAX_LEASE_WAIT_MS)));
      st = await this.o.repo.get(id);
      if (!st || st.settledAt !== null) return;
      if (st.owner !== null && st.leaseUntil !== null && st.leaseUntil >= Date.now()) {
        // Alive after all (a slow server): its end needs an item to ack or hand back.
        await this.work.enqueue(workItem(id));
        return;
      }
    }
    this.o.logger.warn({ invocation: id, deliveries }, 'async queue: an invocation was delivered too often');
    await this.settle(st, true, {
      record: {
        status: 'error',
        error: `delivered ${deliveries} times and never finished (each time its server or node was lost); given up`,
      },
    });
  }

  /**
   * `output`: a small stdout, stored with the settle (a larger one is a blob already); `record`:
   * the status and error the record ends with, written in the settle's own transaction; `stored`:
   * the invocation's record as it is in the store then, when the caller has it (else it is read)
   */
  private async settle(
    st: AsyncState,
    dead: boolean,
    end: { output?: Buffer; record?: AsyncPatch['record']; stored?: InvocationRecord } = {},
  ): Promise<void> {
    const { output, record, stored } = end;
    const now = Date.now();
    if (dead) this.o.metrics?.asyncDeadLettered(st.function);
    this.unsettled = Math.max(0, this.unsettled - 1);
    await this.o.repo.update(st.id, {
      settledAt: now,
      nextAttemptAt: null,
      deadLetter: dead,
      release: true,
      output,
      record,
      ...(st.callbackUrl ? { callbackState: 'pending' as const, callbackNextAt: now } : {}),
    });
    // A dead-lettered invocation keeps its payload so `agni failed --retry` can run it again;
    // one it does not own (a job's inputs) stays with its owner.
    if (!dead && st.payloadRef === null) this.deletePayload(st.id);
    const rec = stored ?? (await this.o.store.getInvocation(st.id));
    if (!rec) return;
    this.tell(rec, { callback: st.callbackUrl !== null, source: st.source });
    try {
      this.o.announceSettled?.(st.id);
    } catch (e) {
      this.o.logger.warn({ err: e }, 'async queue: announcing a settle failed');
    }
    if (dead) {
      this.o.logger.warn(
        { invocation: st.id, function: st.function, status: rec.status },
        'async invocation failed every attempt; see `agni failed`',
      );
    }
  }

  /**
   * Deletes a settled invocation's payload without holding up its settle: nobody reads it again,
   * and the file system's two round trips cost a job's next item 1 to 16 ms of waiting behind
   * the server's other work (timed, for inputs by reference that never had one). `drain` waits.
   */
  private deletePayload(id: string): void {
    const p: Promise<void> = this.o.blobs
      .delete(asyncPayloadKey(id))
      .catch((e) =>
        this.o.logger.warn({ err: e, invocation: id }, 'async queue: a payload could not be deleted'),
      )
      .finally(() => this.deleting.delete(p));
    this.deleting.add(p);
  }

  private tell(rec: InvocationRecord, how?: SettleInfo): void {
    for (const w of [...(this.waiters.get(rec.id) ?? [])]) w(rec);
    for (const l of this.listeners) {
      try {
        l(rec, how);
      } catch (e) {
        this.o.logger.error({ err: e }, 'async queue: a settle listener threw');
      }
    }
  }
}

/** whether the invocation gets a payload blob of its own (not for a stored range or a by-reference input) */
function ownsPayload(req: SubmitRequest): boolean {
  return req.payloadRef === undefined && !(req.input !== undefined && req.payload.length === 0);
}

function workItem(invocationId: string, notBefore?: number | null): WorkItem {
  return notBefore ? { invocationId, notBefore } : { invocationId };
}

/**
 * A dispatch that failed because its node was lost, or found no node because every node that
 * would fit is lost just now (a NATS restart, a cut link: they come back): a redelivery, not an
 * attempt of the function. A node that has just died looks idle until its heartbeats are missed,
 * so placement may pick it again; `lostRedeliveryMs` spaces the redeliveries out.
 */
export function isNodeLost(e: unknown): boolean {
  const x = e as { code?: unknown; details?: { out_of_service?: unknown } } | undefined;
  if (x?.code === 'node_lost') return true;
  const resting = x?.code === 'no_node' ? x.details?.out_of_service : undefined;
  return Array.isArray(resting) && resting.some((n) => typeof n === 'string' && n.endsWith('(lost)'));
}

/**
 * the wait before delivering again after the `deliveries`-th lost node: short at first, doubling
 * up to 5 s, so the bounded deliveries outlast the seconds until a dead node is marked lost
 */
export function lostRedeliveryMs(deliveries: number): number {
  return Math.min(250 * 2 ** Math.max(0, deliveries - 1), 5_000);
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
