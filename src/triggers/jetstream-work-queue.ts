/**
 * The work queue of a cluster: a JetStream stream with WorkQueue retention (`AGNI_WORK` on
 * `agni.work.>`), one message per item on `agni.work.async.<invocation id>`, and one durable pull
 * consumer that every server shares, so each message goes to one server at a time. Explicit acks:
 * a message stays in the stream until a server acks it, so a server, agent or NATS restart loses
 * nothing; a server that dies mid-attempt stops sending in-progress acks, and after the ack wait
 * the message goes to another server. After `max_deliver` deliveries JetStream stops delivering
 * and publishes an advisory; one server (a queue group) hands the item to `onExhausted` and then
 * deletes the message.
 */
import {
  AckPolicy,
  type Consumer,
  type JetStreamClient,
  type JetStreamManager,
  JSONCodec,
  type JsMsg,
  type NatsConnection,
  nanos,
  RetentionPolicy,
  StorageType,
  type Subscription,
} from 'nats';
import type { Logger } from 'pino';
import { AgniError } from '../core/errors.js';
import {
  type ConsumeOptions,
  DEFAULT_ACK_WAIT_MS,
  type Delivery,
  IDLE_POLL_MS,
  type WorkConsumer,
  type WorkItem,
  type WorkQueue,
} from './work-queue.js';

export const WORK_STREAM = 'AGNI_WORK';
export const WORK_SUBJECT_PREFIX = 'agni.work';
export const WORK_CONSUMER = 'agni-servers';
export const DEFAULT_MAX_DELIVERIES = 10;
/** how long one pull waits for messages before the consumer looks at its room again */
const PULL_EXPIRES_MS = 2_000;
const TOKEN = /^[A-Za-z0-9_-]+$/;

export interface JetStreamWorkQueueOptions {
  stream?: string;
  /** subjects are `<prefix>.async.<invocation id>`; the stream holds `<prefix>.>` */
  subjectPrefix?: string;
  consumer?: string;
  ackWaitMs?: number;
  maxDeliveries?: number;
  logger?: Logger;
}

const jc = JSONCodec<WorkItem>();

function isNotFound(e: unknown): boolean {
  const err = e as { code?: string; api_error?: { code?: number; err_code?: number } };
  return (
    err?.api_error?.code === 404 || err?.code === '404' || /not found/i.test(String((e as Error)?.message))
  );
}

export class JetStreamWorkQueue implements WorkQueue {
  readonly durable = true;
  private exhausted: (item: WorkItem, deliveries: number) => Promise<void> = async () => {};
  private advisories: Subscription | undefined;
  private readonly consumers = new Set<WorkConsumer>();

  private constructor(
    private readonly nc: NatsConnection,
    private readonly js: JetStreamClient,
    private readonly jsm: JetStreamManager,
    private readonly consumer: Consumer,
    readonly stream: string,
    private readonly prefix: string,
    private readonly consumerName: string,
    readonly ackWaitMs: number,
    readonly maxDeliveries: number,
    private readonly logger: Logger | undefined,
  ) {}

  /** makes the stream and the shared consumer when they do not exist yet; every server calls it */
  static async open(nc: NatsConnection, o: JetStreamWorkQueueOptions = {}): Promise<JetStreamWorkQueue> {
    const stream = o.stream ?? WORK_STREAM;
    const prefix = o.subjectPrefix ?? WORK_SUBJECT_PREFIX;
    const name = o.consumer ?? WORK_CONSUMER;
    const ackWaitMs = o.ackWaitMs ?? DEFAULT_ACK_WAIT_MS;
    const maxDeliveries = o.maxDeliveries ?? DEFAULT_MAX_DELIVERIES;
    const jsm = await nc.jetstreamManager();
    o.logger?.debug({ stream, consumer: name }, 'work queue: opening the stream');
    try {
      await jsm.streams.info(stream);
    } catch (e) {
      if (!isNotFound(e)) throw e;
      await jsm.streams
        .add({
          name: stream,
          subjects: [`${prefix}.>`],
          retention: RetentionPolicy.Workqueue,
          storage: StorageType.File,
        })
        .catch(async (err) => {
          // Another server made it between our look and our add.
          await jsm.streams.info(stream).catch(() => {
            throw err;
          });
        });
    }
    const config = {
      durable_name: name,
      ack_policy: AckPolicy.Explicit,
      ack_wait: nanos(ackWaitMs),
      max_deliver: maxDeliveries,
      filter_subject: `${prefix}.>`,
      max_ack_pending: -1,
    };
    await jsm.consumers.add(stream, config).catch(async (e) => {
      // Made before with other settings (an upgrade, another server's flags): the editable ones
      // are brought in line; the shared consumer is used either way.
      o.logger?.debug({ err: e, stream, consumer: name }, 'work queue: the consumer exists; updating it');
      await jsm.consumers.update(stream, name, { ack_wait: config.ack_wait, max_deliver: maxDeliveries });
    });
    const js = nc.jetstream();
    const consumer = await js.consumers.get(stream, name);
    const q = new JetStreamWorkQueue(
      nc,
      js,
      jsm,
      consumer,
      stream,
      prefix,
      name,
      ackWaitMs,
      maxDeliveries,
      o.logger,
    );
    q.listenForExhausted();
    o.logger?.debug({ stream, consumer: name }, 'work queue: opened');
    return q;
  }

  private subject(invocationId: string): string {
    if (!TOKEN.test(invocationId)) {
      throw new AgniError(
        'internal',
        `invocation id ${JSON.stringify(invocationId)} cannot name a work item`,
      );
    }
    return `${this.prefix}.async.${invocationId}`;
  }

  async enqueue(item: WorkItem): Promise<void> {
    this.logger?.debug({ invocation: item.invocationId, notBefore: item.notBefore }, 'work queue: enqueue');
    await this.js.publish(this.subject(item.invocationId), jc.encode(item));
  }

  async replace(item: WorkItem): Promise<void> {
    const subject = this.subject(item.invocationId);
    const fresh = await this.js.publish(subject, jc.encode(item));
    // One by one: nats-server 2.9's filtered purge moves a work queue consumer's ack floor past
    // other subjects' messages, which then are never delivered.
    for (;;) {
      // nats.js types miss next_by_subj, which nats-server 2.9 answers: the first at or after seq.
      const next = { seq: 1, next_by_subj: subject } as unknown as { seq: number };
      const old = await this.jsm.streams.getMessage(this.stream, next).catch((e) => {
        if (isNotFound(e)) return undefined;
        throw e;
      });
      if (!old || old.seq >= fresh.seq) return;
      await this.jsm.streams.deleteMessage(this.stream, old.seq, false);
    }
  }

  onExhausted(handler: (item: WorkItem, deliveries: number) => Promise<void>): void {
    this.exhausted = handler;
  }

  private listenForExhausted(): void {
    const subject = `$JS.EVENT.ADVISORY.CONSUMER.MAX_DELIVERIES.${this.stream}.${this.consumerName}`;
    // A queue group: of all the servers listening, one takes each exhausted item.
    this.advisories = this.nc.subscribe(subject, {
      queue: `${this.consumerName}-exhausted`,
      callback: (err, msg) => {
        if (err) return;
        const adv = JSON.parse(msg.string()) as { stream_seq: number; deliveries: number };
        void this.giveUp(adv.stream_seq, adv.deliveries).catch((e) =>
          this.logger?.error(
            { err: e, seq: adv.stream_seq },
            'work queue: an exhausted item could not be handled',
          ),
        );
      },
    });
  }

  private async giveUp(seq: number, deliveries: number): Promise<void> {
    const m = await this.jsm.streams.getMessage(this.stream, { seq }).catch((e) => {
      if (isNotFound(e)) return undefined; // acked after all, or handled by another server
      throw e;
    });
    if (!m) return;
    const item = jc.decode(m.data);
    this.logger?.debug({ invocation: item.invocationId, deliveries }, 'work queue: delivered too often');
    await this.exhausted(item, deliveries);
    await this.jsm.streams.deleteMessage(this.stream, seq, false).catch(() => {});
  }

  async holds(invocationId: string): Promise<boolean> {
    try {
      await this.jsm.streams.getMessage(this.stream, { last_by_subj: this.subject(invocationId) });
      return true;
    } catch (e) {
      if (isNotFound(e)) return false;
      throw e;
    }
  }

  private delivery(m: JsMsg): Delivery {
    let item: WorkItem;
    try {
      item = jc.decode(m.data);
    } catch {
      item = { invocationId: '' };
    }
    return {
      item,
      deliveries: m.info.deliveryCount,
      inProgress: () => m.working(),
      ack: async () => {
        await m.ackAck();
      },
      nak: async (delayMs = 0) => m.nak(delayMs),
      term: async () => m.term(),
    };
  }

  consume(handler: (d: Delivery) => void, opts: ConsumeOptions): WorkConsumer {
    let stopped = false;
    let wake: () => void = () => {};
    let stopFetch: (() => void) | undefined;
    const pause = (ms: number) =>
      new Promise<void>((resolve) => {
        const t = setTimeout(resolve, ms);
        t.unref();
        wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    const loop = async () => {
      let failures = 0;
      while (!stopped) {
        const room = opts.room();
        if (room <= 0) {
          await pause(IDLE_POLL_MS);
          continue;
        }
        try {
          const batch = await this.consumer.fetch({ max_messages: room, expires: PULL_EXPIRES_MS });
          stopFetch = () => batch.stop();
          for await (const m of batch) {
            const d = this.delivery(m);
            if (!d.item.invocationId) {
              m.term();
              continue;
            }
            handler(d);
          }
          failures = 0;
        } catch (e) {
          // NATS away: nats.js reconnects; look again a little later.
          failures++;
          this.logger?.warn({ err: e }, 'work queue: a pull failed');
          await pause(Math.min(5_000, 200 * failures));
        } finally {
          stopFetch = undefined;
        }
      }
    };
    const running = loop();
    const c: WorkConsumer = {
      wake: () => wake(),
      stop: async () => {
        stopped = true;
        stopFetch?.();
        wake();
        await running;
        this.consumers.delete(c);
      },
    };
    this.consumers.add(c);
    return c;
  }

  async close(): Promise<void> {
    await Promise.all([...this.consumers].map((c) => c.stop()));
    this.advisories?.unsubscribe();
  }

  /** removes the stream, its consumer and every item in it (tests) */
  async destroy(): Promise<void> {
    await this.close();
    await this.jsm.streams.delete(this.stream).catch(() => {});
  }
}
