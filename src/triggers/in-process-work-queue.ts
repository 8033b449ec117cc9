/**
 * The work queue of `agni up`: items in memory, in the order they come due. Nothing here outlives
 * the process; the store does, and the async queue enqueues its queued invocations again at start.
 */
import {
  type ConsumeOptions,
  DEFAULT_ACK_WAIT_MS,
  type Delivery,
  IDLE_POLL_MS,
  type WorkConsumer,
  type WorkItem,
  type WorkQueue,
} from './work-queue.js';

interface Entry {
  seq: number;
  item: WorkItem;
  readyAt: number;
  deliveries: number;
  /** the delivery that holds it now (0: none); older deliveries' nak and inProgress do nothing */
  heldBy: number;
  timer?: NodeJS.Timeout;
}

/** an upper bound on sleeping, so a clock jump never stalls the queue */
const MAX_SLEEP_MS = 30_000;

export interface InProcessWorkQueueOptions {
  ackWaitMs?: number;
  /** unbounded unless given: in one process a delivery is lost only with the process */
  maxDeliveries?: number;
}

export class InProcessWorkQueue implements WorkQueue {
  readonly durable = false;
  readonly maxDeliveries: number;
  readonly ackWaitMs: number;
  private readonly entries = new Map<number, Entry>();
  private seq = 0;
  private deliverySeq = 0;
  private exhausted: (item: WorkItem, deliveries: number) => Promise<void> = async () => {};
  private readonly wakers = new Set<() => void>();
  private closed = false;

  constructor(o: InProcessWorkQueueOptions = {}) {
    this.ackWaitMs = o.ackWaitMs ?? DEFAULT_ACK_WAIT_MS;
    this.maxDeliveries = o.maxDeliveries ?? Number.POSITIVE_INFINITY;
  }

  async enqueue(item: WorkItem): Promise<void> {
    const seq = ++this.seq;
    this.entries.set(seq, { seq, item: { ...item }, readyAt: item.notBefore ?? 0, deliveries: 0, heldBy: 0 });
    this.signal();
  }

  async replace(item: WorkItem): Promise<void> {
    for (const e of [...this.entries.values()]) {
      if (e.item.invocationId !== item.invocationId) continue;
      clearTimeout(e.timer);
      this.entries.delete(e.seq);
    }
    await this.enqueue(item);
  }

  onExhausted(handler: (item: WorkItem, deliveries: number) => Promise<void>): void {
    this.exhausted = handler;
  }

  async holds(invocationId: string): Promise<boolean> {
    for (const e of this.entries.values()) if (e.item.invocationId === invocationId) return true;
    return false;
  }

  private signal(): void {
    for (const w of [...this.wakers]) w();
  }

  private release(e: Entry, readyAt: number): void {
    clearTimeout(e.timer);
    e.heldBy = 0;
    e.readyAt = readyAt;
    this.signal();
  }

  /** due entries nobody holds, oldest due first; those delivered too often go to `onExhausted` */
  private ready(now: number, max: number): Entry[] {
    const due = [...this.entries.values()]
      .filter((e) => e.heldBy === 0 && e.readyAt <= now)
      .sort((a, b) => a.readyAt - b.readyAt || a.seq - b.seq);
    const out: Entry[] = [];
    for (const e of due) {
      if (out.length >= max) break;
      if (e.deliveries >= this.maxDeliveries) {
        this.entries.delete(e.seq);
        void this.exhausted(e.item, e.deliveries).catch(() => {});
        continue;
      }
      out.push(e);
    }
    return out;
  }

  private nextReadyAt(): number | undefined {
    let next: number | undefined;
    for (const e of this.entries.values()) {
      if (e.heldBy === 0 && (next === undefined || e.readyAt < next)) next = e.readyAt;
    }
    return next;
  }

  private deliver(e: Entry): Delivery {
    const id = ++this.deliverySeq;
    e.deliveries++;
    e.heldBy = id;
    const arm = () => {
      clearTimeout(e.timer);
      e.timer = setTimeout(() => {
        if (e.heldBy === id) this.release(e, 0);
      }, this.ackWaitMs);
      e.timer.unref();
    };
    arm();
    const mine = () => e.heldBy === id && this.entries.get(e.seq) === e;
    return {
      item: { ...e.item },
      deliveries: e.deliveries,
      inProgress: () => {
        if (mine()) arm();
      },
      ack: async () => {
        // Even a late ack of an earlier delivery settles the item, as JetStream's does.
        clearTimeout(e.timer);
        this.entries.delete(e.seq);
      },
      nak: async (delayMs = 0) => {
        if (mine()) this.release(e, Date.now() + delayMs);
      },
      term: async () => {
        clearTimeout(e.timer);
        this.entries.delete(e.seq);
      },
    };
  }

  consume(handler: (d: Delivery) => void, opts: ConsumeOptions): WorkConsumer {
    let stopped = false;
    let wake: () => void = () => {};
    const loop = async () => {
      while (!stopped && !this.closed) {
        const room = opts.room();
        let sleep = IDLE_POLL_MS;
        if (room > 0) {
          const now = Date.now();
          const batch = this.ready(now, room);
          for (const e of batch) handler(this.deliver(e));
          if (batch.length > 0) continue;
          const next = this.nextReadyAt();
          sleep = next === undefined ? MAX_SLEEP_MS : Math.min(MAX_SLEEP_MS, Math.max(0, next - now));
        }
        await new Promise<void>((resolve) => {
          const t = setTimeout(done, sleep);
          t.unref();
          function done() {
            clearTimeout(t);
            wakers.delete(done);
            resolve();
          }
          const wakers = this.wakers;
          wakers.add(done);
          wake = done;
        });
      }
    };
    const running = loop();
    return {
      wake: () => wake(),
      stop: async () => {
        stopped = true;
        wake();
        await running;
      },
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const e of this.entries.values()) clearTimeout(e.timer);
    this.signal();
  }
}
