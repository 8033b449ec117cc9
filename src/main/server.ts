/**
 * Composition root of a cluster server (`agni server`): the API, deploys, async queue, jobs and
 * triggers over a shared PostgreSQL store, with calls dispatched over NATS to the live agents.
 * Stateless: two or more may run on the same store and NATS.
 *
 * `--agent` runs an agent in this process over the same NATS connection, so the server places on
 * it like on any other node (one code path, the same phases); the cost is a loopback round trip.
 */
import { join } from 'node:path';
import pino from 'pino';
import { AgniError } from '../core/errors.js';
import type { BackendKind } from '../sandbox/select.js';
import { type AgentOptions, type RunningAgent, startAgentOn } from './agent.js';
import { type Control, type ControlOptions, startControl } from './control.js';
import { connectCluster } from './nats-connect.js';
import { SimpleNodes } from './simple-nodes.js';

export interface ServerOptions extends ControlOptions {
  store: string;
  natsUrl: string;
  /** the cluster's OCI registry (HOST:PORT): code distribution uses it (wired with c-code) */
  registry?: string;
  /** also run an agent in this process */
  agent?: Omit<AgentOptions, 'home' | 'logger' | 'maxPayloadBytes' | 'lambdaRegion'> & {
    backend: BackendKind;
  };
}

export interface Server extends Control {
  nodes: SimpleNodes;
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
  const logger = o.logger ?? pino({ level: process.env.AGNI_LOG_LEVEL ?? 'info' }, pino.destination(2));
  const nc = await connectCluster(o.natsUrl, 'agni-server');
  let nodes: SimpleNodes | undefined;
  let agent: RunningAgent | undefined;
  const control = await startControl(
    { ...o, logger, natsUrl: o.natsUrl },
    async () => {
      const n = new SimpleNodes(nc, logger);
      nodes = n;
      await n.ready();
      if (o.agent)
        agent = await startAgentOn(nc, {
          ...o.agent,
          home: join(o.home, 'agent'),
          maxPayloadBytes: o.maxPayloadBytes,
          ...(o.lambdaRegion ? { lambdaRegion: o.lambdaRegion } : {}),
          logger,
        });
      return {
        dispatcher: n,
        // Kept sandboxes of old versions on the agents go with node drain commands (c-placement).
        drain: async () => {},
        info: () => ({ mode: 'server', nodes: n.list().map((h) => h.node) }),
        recovered: agent?.recovered ?? 0,
        stop: async () => {
          await agent?.close();
        },
        close: async () => {
          await nc.drain().catch(() => {});
        },
      };
    },
    true,
  ).catch(async (e) => {
    await agent?.close();
    await nc.close();
    throw e;
  });
  return { ...control, nodes: nodes!, ...(agent ? { agent } : {}) };
}
