/**
 * The async pieces of a cluster server (`agni server`), for its composition root to call: blobs in
 * the JetStream object store bucket, the shared JetStream work queue, a claim owner of its own, and
 * settles told to the other servers over the event bus (so a waiter or a job on server A hears of
 * an invocation server B finished). `agni up` uses none of it.
 */
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import type { NatsConnection } from 'nats';
import type { Logger } from 'pino';
import { NatsObjectBlobStore } from '../store/blob/nats-object-blob-store.js';
import type { AsyncQueue, AsyncQueueOptions } from './async-queue.js';
import { JetStreamWorkQueue } from './jetstream-work-queue.js';
import { DEFAULT_ACK_WAIT_MS } from './work-queue.js';

/** the shape of src/events/event-bus.ts's EventBus that this needs */
export interface SettleBus {
  publish(topic: string, event: object): Promise<void>;
  subscribe(topic: string, handler: (event: unknown) => void): () => void;
}

export const ASYNC_SETTLED_TOPIC = 'async.settled';

export interface ClusterAsyncOptions {
  nc: NatsConnection;
  logger: Logger;
  /** object store bucket of payloads, outputs and job inputs (default `agni_blobs`) */
  bucket?: string;
  /** work queue stream (default `AGNI_WORK` on `agni.work.>`) */
  stream?: string;
  subjectPrefix?: string;
  ackWaitMs?: number;
  maxDeliveries?: number;
  /** claim lease of an attempt (ms; default 5/6 of the ack wait); renewed, with an in-progress ack, every third of it */
  leaseMs?: number;
  /** when given, settles are published on it and others' settles heard from it */
  events?: SettleBus;
  /** the claim owner (default: unique per process, `serverOwner()`); tests name their servers */
  owner?: string;
}

export interface ClusterAsync {
  blobs: NatsObjectBlobStore;
  work: JetStreamWorkQueue;
  /** this server's claim owner: unique per process, so no server ever takes another's live attempt */
  owner: string;
  /** spread into `new AsyncQueue({ ...queueOptions, blobs, store, resolver, repo, invoker, dispatcher, logger, maxInFlight })` */
  queueOptions: Pick<AsyncQueueOptions, 'work' | 'owner' | 'leaseMs' | 'announceSettled' | 'blobs'>;
  /** after the queue is made: other servers' settles wake its waiters and jobs */
  attach(queue: AsyncQueue): void;
  /** after `queue.close()` and `queue.drain()`: stops listening (the stream and bucket stay) */
  close(): Promise<void>;
}

export function serverOwner(): string {
  return `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`;
}

export async function createClusterAsync(o: ClusterAsyncOptions): Promise<ClusterAsync> {
  const blobs = await NatsObjectBlobStore.open(o.nc, { bucket: o.bucket, logger: o.logger });
  const work = await JetStreamWorkQueue.open(o.nc, {
    stream: o.stream,
    subjectPrefix: o.subjectPrefix,
    ackWaitMs: o.ackWaitMs,
    maxDeliveries: o.maxDeliveries,
    logger: o.logger,
  });
  const owner = o.owner ?? serverOwner();
  const unsubscribe: (() => void)[] = [];
  const events = o.events;
  return {
    blobs,
    work,
    owner,
    queueOptions: {
      blobs,
      work,
      owner,
      // A little shorter than the ack wait: when a dead server's item is delivered again, its
      // lease has run out, and the next server takes it over at once instead of waiting a nak.
      leaseMs: o.leaseMs ?? Math.floor(((o.ackWaitMs ?? DEFAULT_ACK_WAIT_MS) * 5) / 6),
      ...(events
        ? {
            announceSettled: (id: string) => {
              void events
                .publish(ASYNC_SETTLED_TOPIC, { id, by: owner })
                .catch((e) =>
                  o.logger.warn({ err: e, invocation: id }, 'async: a settle could not be published'),
                );
            },
          }
        : {}),
    },
    attach(queue: AsyncQueue) {
      if (!events) return;
      unsubscribe.push(
        events.subscribe(ASYNC_SETTLED_TOPIC, (event) => {
          const e = event as { id?: unknown; by?: unknown };
          if (typeof e.id !== 'string' || e.by === owner) return;
          void queue
            .settledElsewhere(e.id)
            .catch((err) =>
              o.logger.warn({ err, invocation: e.id }, 'async: a settle elsewhere was not applied'),
            );
        }),
      );
    },
    async close() {
      for (const u of unsubscribe) u();
      await work.close();
    },
  };
}
