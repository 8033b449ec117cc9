/**
 * Async settles between servers. The server whose queue ran an invocation to its end publishes
 * `invocation.settled` on the event bus; everything that waits for a settle (a `GET …/result?wait=`,
 * fan-out jobs, triggers' last results, callbacks) listens on the bus, so it is woken whichever
 * server ran the invocation. The event is a hint: on it the listener reads the store, which is the
 * truth, and waiters also look by themselves every `pollMs`, so a lost event costs time, never a hang.
 */
import type { Logger } from 'pino';
import { AgniError } from '../core/errors.js';
import type { EventBus } from '../events/event-bus.js';
import type { InvocationRecord } from '../store/store.js';
import type { AsyncQueue } from './async-queue.js';
import type { AsyncOutput, AsyncSubmitter, SettleInfo, SubmitRequest, Submitted } from './async-types.js';

export const INVOCATION_SETTLED = 'invocation.settled';

/** what crosses the bus: the id (and status, for logs); listeners read the rest from the store */
export interface InvocationSettledEvent {
  id: string;
  status: string;
  /** a callback of it is due: the callback senders look (they would find nothing otherwise) */
  callback?: true;
}

/** an async invocation as stored: its record, and whether it settled */
export type SettledRead = (
  id: string,
) => Promise<{ record: InvocationRecord; settled: boolean; source?: string } | undefined>;

export const DEFAULT_SETTLE_POLL_MS = 5_000;
/** ids submitted here that the poll looks at per round (the oldest first) */
const POLL_BATCH = 200;
/** settles already delivered, so an event and a poll never deliver one twice */
const DELIVERED_KEPT = 4096;

/** tells every server of each settle of this process's queue; returns the unsubscribe */
export function publishSettles(
  source: Pick<AsyncSubmitter, 'onSettled'>,
  bus: EventBus,
  logger: Logger,
): () => void {
  return source.onSettled((rec, how) => {
    const e: InvocationSettledEvent = {
      id: rec.id,
      status: rec.status,
      ...(how?.callback ? { callback: true as const } : {}),
    };
    bus.publish(INVOCATION_SETTLED, e).catch((err) => {
      // The waiters' poll finds it anyway.
      logger.warn({ invocation: rec.id, err: (err as Error).message }, 'events: could not publish a settle');
    });
  });
}

export interface ClusterSettlesOptions {
  logger: Logger;
  /** how often waiters and watched submissions look at the store without an event */
  pollMs?: number;
}

/**
 * The queue seen from any server: submissions and outputs go to `inner`; `wait` and `onSettled`
 * follow settles on the bus (any server's), read back from the store.
 */
export class ClusterSettles implements AsyncSubmitter {
  private readonly waiters = new Map<string, Set<() => void>>();
  private readonly listeners = new Set<(rec: InvocationRecord, how?: SettleInfo) => void>();
  /** submitted through this object and not yet seen settled: the poll's list */
  private readonly watched = new Set<string>();
  private readonly delivered = new Set<string>();
  private readonly unsubscribe: () => void;
  private readonly timer: NodeJS.Timeout;
  private polling = false;
  private closed = false;

  constructor(
    private readonly inner: AsyncSubmitter,
    bus: EventBus,
    private readonly read: SettledRead,
    private readonly o: ClusterSettlesOptions,
  ) {
    this.unsubscribe = bus.subscribe(INVOCATION_SETTLED, (e) => {
      if (typeof e.id === 'string') this.heard(e.id);
    });
    this.timer = setInterval(() => void this.poll(), this.pollMs);
    this.timer.unref();
  }

  private get pollMs(): number {
    return this.o.pollMs ?? DEFAULT_SETTLE_POLL_MS;
  }

  async submit(req: SubmitRequest): Promise<Submitted> {
    const s = await this.inner.submit(req);
    if (this.listeners.size > 0 && !this.delivered.has(s.record.id)) this.watched.add(s.record.id);
    return s;
  }

  output(id: string): Promise<AsyncOutput | undefined> {
    return this.inner.output(id);
  }

  onSettled(listener: (rec: InvocationRecord, how?: SettleInfo) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async wait(id: string, timeoutMs: number): Promise<InvocationRecord> {
    // Listening before looking: a settle between the read and the subscription is not missed.
    let woken = false;
    let wake: () => void = () => {};
    const waker = () => {
      woken = true;
      wake();
    };
    const set = this.waiters.get(id) ?? new Set<() => void>();
    this.waiters.set(id, set);
    set.add(waker);
    const until = Date.now() + Math.max(0, timeoutMs);
    try {
      for (;;) {
        woken = false;
        const cur = await this.read(id);
        if (!cur) throw new AgniError('invocation_not_found', `no async invocation ${id}`);
        const left = until - Date.now();
        if (cur.settled || left <= 0 || this.closed) return cur.record;
        if (woken) continue;
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, Math.min(left, this.pollMs));
          wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        wake = () => {};
      }
    } finally {
      set.delete(waker);
      if (set.size === 0 && this.waiters.get(id) === set) this.waiters.delete(id);
    }
  }

  /** wakes every waiter (they answer with what the store holds) and stops listening */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.unsubscribe();
    clearInterval(this.timer);
    for (const set of this.waiters.values()) for (const w of [...set]) w();
  }

  /**
   * A settle of this process's own queue, with its final record in hand: listeners get it at once,
   * without waiting for the bus or reading the store back (the event that follows is a duplicate).
   */
  settledHere(rec: InvocationRecord, how?: SettleInfo): void {
    for (const w of [...(this.waiters.get(rec.id) ?? [])]) w();
    this.deliver(rec, how);
  }

  /** an event named `id`: waiters look again; listeners get the record once the store says settled */
  private heard(id: string): void {
    for (const w of [...(this.waiters.get(id) ?? [])]) w();
    if (this.listeners.size === 0 || this.delivered.has(id)) return;
    this.read(id)
      .then((cur) => {
        if (cur?.settled) this.deliver(cur.record, settleInfo(cur));
      })
      .catch((err) =>
        this.o.logger.warn(
          { invocation: id, err: (err as Error).message },
          'events: could not read a settled invocation',
        ),
      );
  }

  private deliver(rec: InvocationRecord, how?: SettleInfo): void {
    if (this.closed || this.delivered.has(rec.id)) return;
    this.watched.delete(rec.id);
    this.delivered.add(rec.id);
    if (this.delivered.size > DELIVERED_KEPT) this.delivered.delete(this.delivered.values().next().value!);
    for (const l of [...this.listeners]) {
      try {
        l(rec, how);
      } catch (err) {
        this.o.logger.error({ err }, 'events: a settle listener threw');
      }
    }
  }

  /** what the bus may have lost: submissions made here that settled without an event heard */
  private async poll(): Promise<void> {
    if (this.polling || this.closed || this.watched.size === 0) return;
    this.polling = true;
    try {
      for (const id of [...this.watched].slice(0, POLL_BATCH)) {
        let cur: Awaited<ReturnType<SettledRead>>;
        try {
          cur = await this.read(id);
        } catch {
          return; // the store is away: next round
        }
        if (!cur) this.watched.delete(id);
        else if (cur.settled) this.deliver(cur.record, settleInfo(cur));
      }
    } finally {
      this.polling = false;
    }
  }
}

/**
 * One server's settle plumbing, for a composition root: its queue's settles go out on the bus,
 * and what waits for settles (the returned `settles`, given to jobs, triggers and the API, and
 * `onCallbackDue`, the callback sender's kick) follows every server's.
 */
export function settlesOverBus(o: {
  queue: AsyncSubmitter & Pick<AsyncQueue, 'state'>;
  bus: EventBus;
  logger: Logger;
  /** a settle (any server's) made a callback due; the others do not wake the callback senders */
  onCallbackDue?: () => void;
  pollMs?: number;
}): { settles: ClusterSettles; close(): void } {
  const settles = new ClusterSettles(
    o.queue,
    o.bus,
    async (id) => {
      const s = await o.queue.state(id);
      return s && { record: s.record, settled: s.state.settledAt !== null, source: s.state.source };
    },
    { logger: o.logger, pollMs: o.pollMs },
  );
  // Local settles first, then the bus for everyone else's waiters (and other servers').
  const unlocal = o.queue.onSettled((rec, how) => settles.settledHere(rec, how));
  const unpublish = publishSettles(o.queue, o.bus, o.logger);
  const onDue = o.onCallbackDue;
  const unkick = onDue
    ? o.bus.subscribe(INVOCATION_SETTLED, (e) => {
        if (e.callback === true) onDue();
      })
    : () => {};
  return {
    settles,
    close() {
      unkick();
      unlocal();
      unpublish();
      settles.close();
    },
  };
}

/** what a listener is told of a settle read back from the store (its callback is the sender's) */
function settleInfo(cur: { source?: string }): SettleInfo | undefined {
  return cur.source === undefined ? undefined : { source: cur.source };
}
