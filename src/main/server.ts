/**
 * Composition root of a cluster server (`agni server`): the API, deploys, async queue, jobs and
 * triggers over a shared PostgreSQL store, with calls placed on the live agents and carried over
 * NATS. Stateless: two or more may run on the same store and NATS. What differs from `agni up` is
 * only what is handed to startControl: the ClusterDispatcher over the node directory, the
 * JetStream work queue and object-store blobs, the NATS event bus, and the registry publisher.
 *
 * `--agent` runs an agent in this process over the same NATS connection, so the server places on
 * it like on any other node (one code path, the same phases); the cost is a loopback round trip.
 */
import { hostname } from 'node:os';
import { join } from 'node:path';
import { RegistryCodePublisher } from '../app/code-publisher.js';
import { serveSecrets } from '../cluster/secret-service.js';
import { type ServerPlacement, startServerPlacement } from '../cluster/server-placement.js';
import { recordedImagePlatforms } from '../cluster/version-needs.js';
import { AgniError } from '../core/errors.js';
import { NatsNodeAgent } from '../dispatch/nats/nats-node-agent.js';
import { NatsEventBus } from '../events/nats-event-bus.js';
import { parsePlatform } from '../image/oci/platform.js';
import type { BackendKind } from '../sandbox/select.js';
import { SqlOciImageRepository } from '../store/oci-image-repo.js';
import { type ClusterAsync, createClusterAsync } from '../triggers/cluster-async.js';
import { type AgentOptions, type RunningAgent, startAgentOn } from './agent.js';
import { type Control, type ControlOptions, startControl } from './control.js';
import { connectCluster } from './nats-connect.js';
import { roleLogger } from './role-logger.js';

export interface ServerOptions extends ControlOptions {
  store: string;
  natsUrl: string;
  /** the cluster's OCI registry (HOST:PORT): every deploy's code is pushed there for the agents */
  registry: string;
  /** http for a registry that is not on loopback (default https) */
  insecureRegistry?: boolean;
  /** also run an agent in this process */
  agent?: Omit<AgentOptions, 'home' | 'logger' | 'maxPayloadBytes' | 'lambdaRegion'> & {
    backend: BackendKind;
  };
}

export interface Server extends Control {
  placement: ServerPlacement;
  agent?: RunningAgent;
}

const isPostgres = (s: string) => /^postgres(ql)?:\/\//.test(s);

export async function startServer(o: ServerOptions): Promise<Server> {
  if (!o.store || !isPostgres(o.store))
    throw new AgniError(
      'bad_request',
      `--store: agni server needs a PostgreSQL store shared by every server (postgres://…), got ${JSON.stringify(o.store ?? '')}`,
      { hint: 'SQLite is for `agni up` only: give --store postgres://USER@HOST:5432/DB' },
    );
  if (!o.registry)
    throw new AgniError(
      'bad_request',
      '--registry: agni server needs the cluster registry, --registry HOST:PORT (or $AGNI_REGISTRY)',
      { hint: 'every deploy is pushed there for the agents to pull, e.g. --registry 10.0.0.5:5000' },
    );
  const logger = o.logger ?? roleLogger();
  const nc = await connectCluster(o.natsUrl, 'agni-server');
  const bus = new NatsEventBus(nc, { logger });
  // One id per process: its sync invocation rows and async claims are its own, never another's.
  const instance = o.instance ?? `${hostname()}-${process.pid}`;
  let cluster: ClusterAsync | undefined;
  let placement: ServerPlacement | undefined;
  let agent: RunningAgent | undefined;
  let secretService: { close(): void } | undefined;
  const release = async () => {
    await agent?.close().catch(() => {});
    secretService?.close();
    await placement?.close().catch(() => {});
    await cluster?.close().catch(() => {});
    await bus.close().catch(() => {});
    await nc.drain().catch(() => {});
  };
  try {
    cluster = await createClusterAsync({ nc, logger, owner: instance });
  } catch (e) {
    await release();
    throw e;
  }
  const work = cluster;
  const control = await startControl(
    { ...o, logger, natsUrl: o.natsUrl, instance, bus },
    async (ctx) => {
      const p = await startServerPlacement(nc, {
        logger,
        agentFor: (hb, directory) =>
          new NatsNodeAgent(
            nc,
            { node: hb.node, platforms: hb.platforms.map((x) => parsePlatform(x)), slots: hb.slots },
            {
              logger,
              backend: hb.backends[0] ?? 'remote',
              isLost: () => directory.isLost(hb.node),
              onLost: (cb) => directory.onLost(hb.node, cb),
            },
          ),
        imagePlatforms: recordedImagePlatforms(new SqlOciImageRepository(ctx.store.db)),
        ...(o.maxQueue !== undefined ? { maxQueue: o.maxQueue } : {}),
      });
      placement = p;
      // Agents have no database: they ask the servers for the secrets a version names, sealed for them.
      secretService = serveSecrets(nc, { store: ctx.store, values: ctx.secrets, logger });
      if (o.agent)
        agent = await startAgentOn(nc, {
          ...o.agent,
          home: join(o.home, 'agent'),
          maxPayloadBytes: o.maxPayloadBytes,
          registry: o.agent.registry ?? o.registry,
          ...(o.lambdaRegion ? { lambdaRegion: o.lambdaRegion } : {}),
          logger,
        });
      const d = p.dispatcher;
      return {
        dispatcher: d,
        cancelQueued: d.cancelQueued.bind(d),
        whenIdle: d.whenIdle.bind(d),
        // Agents hold prewarmed sandboxes and warm workers of the versions they ran: a new live
        // version reaches them as an event (function.changed, followed in agent.ts).
        drain: async () => {},
        info: () => ({ mode: 'server', nodes: p.directory.list().map((n) => n.heartbeat.node) }),
        recovered: agent?.recovered ?? 0,
        nodes: p.nodes,
        // A function may name a volume some node has: placement then picks only such nodes.
        volumeNames: () => [...new Set(p.directory.list().flatMap((n) => n.heartbeat.volumes ?? []))],
        metricNodes: () =>
          p.directory.list().map((n) => ({
            node: n.heartbeat.node,
            dispatcher: () => ({
              queued: n.heartbeat.queued,
              running: n.heartbeat.running,
              slots: n.heartbeat.slots,
            }),
          })),
        stop: async () => {
          await agent?.close();
        },
        close: release,
      };
    },
    {
      blobs: work.blobs,
      asyncQueue: work.queueOptions,
      publisher: (oci) =>
        new RegistryCodePublisher({
          registry: o.registry,
          ...(o.insecureRegistry ? { insecure: true } : {}),
          oci,
          home: o.home,
          logger,
        }),
    },
  ).catch(async (e) => {
    await release();
    throw e;
  });
  return { ...control, placement: placement!, ...(agent ? { agent } : {}) };
}
