/**
 * What is due and who runs it: async invocations (and so fan-out items, which are async
 * invocations) go through a WorkQueue, at least once. The queue only carries which invocation to
 * attempt and not before when; the store keeps everything else (attempts, leases, the dead-letter
 * flag), and its claim by compare-and-set is the fence that keeps a redelivered item from running
 * twice at once. `agni up` uses the in-process queue; cluster servers share a JetStream one.
 */

/** serialisable: it crosses the network as a JetStream message */
export interface WorkItem {
  invocationId: string;
  /** ms since the epoch; a delivery before it is handed back (nak) until then */
  notBefore?: number;
}

/** one delivery of an item to a consumer; exactly one of ack, nak or term ends it */
export interface Delivery {
  readonly item: WorkItem;
  /** 1 on the first delivery, counting redeliveries after a nak or an ack wait that ran out */
  readonly deliveries: number;
  /** the attempt still runs: holds the item for another ack wait */
  inProgress(): void;
  /** done with it: it is never delivered again */
  ack(): Promise<void>;
  /** hands it back, to be delivered again after `delayMs` (to any consumer) */
  nak(delayMs?: number): Promise<void>;
  /** drops it without running it (its invocation is gone) */
  term(): Promise<void>;
}

export interface WorkConsumer {
  /** room may have grown (an attempt ended, a slot freed): look again now */
  wake(): void;
  /** stops taking deliveries; those handed out stay the handler's to end */
  stop(): Promise<void>;
}

export interface ConsumeOptions {
  /** how many more deliveries the handler takes now; 0 pauses until `wake` (or a short poll) */
  room(): number;
}

export interface WorkQueue {
  /** true when items outlive this process (JetStream); false when a restart must enqueue again */
  readonly durable: boolean;
  /** deliveries of one item before it is given up (to `onExhausted`) */
  readonly maxDeliveries: number;
  /** how long a delivery holds its item without `inProgress` before it is delivered again */
  readonly ackWaitMs: number;
  enqueue(item: WorkItem): Promise<void>;
  /** hands deliveries to `handler` while there is room; one consumer per process */
  consume(handler: (d: Delivery) => void, opts: ConsumeOptions): WorkConsumer;
  /**
   * called once for an item delivered `maxDeliveries` times without an ack or nak of its last
   * delivery (its consumer died each time); the item is no longer in the queue
   */
  onExhausted(handler: (item: WorkItem, deliveries: number) => Promise<void>): void;
  /**
   * enqueues a fresh item and drops every older one of the invocation: for an item stuck where no
   * delivery comes (given up while no server listened); the claim fences a delivery still running
   */
  replace(item: WorkItem): Promise<void>;
  /** whether some item of the invocation is in the queue (waiting or delivered, not acked) */
  holds(invocationId: string): Promise<boolean>;
  close(): Promise<void>;
}

export const DEFAULT_ACK_WAIT_MS = 30_000;
/** how often a consumer with no room looks again without a wake */
export const IDLE_POLL_MS = 50;
