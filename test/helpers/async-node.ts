/**
 * One cluster server's async half, for the tests: an AsyncQueue over a real PostgreSQL store, the
 * JetStream work queue, the object store bucket and a real in-process agent on the process backend.
 * Run as a program (AGNI_ASYNC_NODE=1) it is a server that can be SIGKILLed: with AGNI_SUBMIT=N it
 * submits N invocations of AGNI_FUNCTION first and prints their ids as one JSON line.
 */
import { connect, type NatsConnection } from 'nats';
import pino from 'pino';
import { Agent } from '../../src/agent/agent.js';
import { Invoker } from '../../src/app/invoker.js';
import { LocalDispatcher } from '../../src/dispatch/local-dispatcher.js';
import { nodePlatforms } from '../../src/image/oci/node-platforms.js';
import { ProcessBackend } from '../../src/sandbox/process-backend.js';
import { SqlAsyncRepo } from '../../src/store/async-sql.js';
import type { NatsObjectBlobStore } from '../../src/store/blob/nats-object-blob-store.js';
import { SqlFunctionAliasRepository } from '../../src/store/function-alias-repo.js';
import { openStore } from '../../src/store/open.js';
import type { SqlStore } from '../../src/store/sql-store.js';
import { VersionResolver } from '../../src/store/version-resolver.js';
import { AsyncQueue } from '../../src/triggers/async-queue.js';
import { createClusterAsync, type SettleBus } from '../../src/triggers/cluster-async.js';
import type { JetStreamWorkQueue } from '../../src/triggers/jetstream-work-queue.js';

export interface AsyncNodeOptions {
  pgUrl: string;
  natsUrl: string;
  stream: string;
  subjectPrefix: string;
  bucket: string;
  owner: string;
  slots: number;
  ackWaitMs: number;
  leaseMs: number;
  maxDeliveries?: number;
  /** async attempts at once (default: slots); 0 makes a server that only listens and sweeps */
  maxInFlight?: number;
  /** settles published and heard on core NATS subjects under this prefix */
  busPrefix?: string;
}

/** the event bus's publish/subscribe, on plain NATS subjects (the shape createClusterAsync needs) */
function natsBus(nc: NatsConnection, prefix: string): SettleBus {
  return {
    async publish(topic, event) {
      nc.publish(`${prefix}.${topic}`, JSON.stringify(event));
    },
    subscribe(topic, handler) {
      const sub = nc.subscribe(`${prefix}.${topic}`, {
        callback: (err, m) => {
          if (!err) handler(JSON.parse(m.string()));
        },
      });
      return () => sub.unsubscribe();
    },
  };
}

export interface AsyncNode {
  queue: AsyncQueue;
  store: SqlStore;
  blobs: NatsObjectBlobStore;
  work: JetStreamWorkQueue;
  nc: NatsConnection;
  close(): Promise<void>;
}

export async function startAsyncNode(o: AsyncNodeOptions): Promise<AsyncNode> {
  const logger = pino({ level: process.env.AGNI_LOG_LEVEL ?? 'warn' }, pino.destination(2));
  const store = await openStore(o.pgUrl);
  const nc = await connect({ servers: o.natsUrl });
  // The server role's own factory, as src/main/server.ts calls it.
  const cluster = await createClusterAsync({
    nc,
    logger,
    bucket: o.bucket,
    stream: o.stream,
    subjectPrefix: o.subjectPrefix,
    ackWaitMs: o.ackWaitMs,
    maxDeliveries: o.maxDeliveries,
    leaseMs: o.leaseMs,
    owner: o.owner,
    ...(o.busPrefix ? { events: natsBus(nc, o.busPrefix) } : {}),
  });
  const { blobs, work } = cluster;
  const backend = new ProcessBackend();
  const agent = new Agent(backend, async () => undefined, {
    node: o.owner,
    platforms: nodePlatforms(),
    slots: o.slots,
  });
  const dispatcher = new LocalDispatcher(agent);
  const resolver = new VersionResolver(store, new SqlFunctionAliasRepository(store.db));
  const queue = new AsyncQueue({
    ...cluster.queueOptions,
    store,
    resolver,
    repo: new SqlAsyncRepo(store.db),
    invoker: new Invoker(store, dispatcher, resolver),
    dispatcher,
    logger,
    maxInFlight: o.maxInFlight ?? o.slots,
  });
  cluster.attach(queue);
  await queue.start();
  return {
    queue,
    store,
    blobs,
    work,
    nc,
    async close() {
      queue.close();
      await queue.drain();
      await dispatcher.close();
      await backend.shutdown();
      await cluster.close();
      await nc.close();
      await store.close();
    },
  };
}

if (process.env.AGNI_ASYNC_NODE === '1') {
  const node = await startAsyncNode(
    JSON.parse(process.env.AGNI_ASYNC_NODE_OPTIONS ?? '{}') as AsyncNodeOptions,
  );
  const n = Number(process.env.AGNI_SUBMIT ?? 0);
  const ids: string[] = [];
  for (let i = 0; i < n; i++) {
    const { record } = await node.queue.submit({
      function: process.env.AGNI_FUNCTION ?? 'slow',
      qualifier: { kind: 'live' },
      payload: Buffer.from(`payload ${i}`),
    });
    ids.push(record.id);
  }
  process.stdout.write(`${JSON.stringify(ids)}\n`);
}
