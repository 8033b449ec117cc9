/**
 * Everything of membership an `agni agent` runs, in one call for its composition root: the
 * drained state from its home, the heartbeat every second, the drain/resume handler, and the
 * NodeAgent to serve calls through (it refuses new calls while drained).
 */
import type { NatsConnection } from 'nats';
import type { Logger } from 'pino';
import type { NodeAgent } from '../dispatch/node-agent.js';
import { DrainState } from './drain-state.js';
import { DrainingAgent } from './draining-agent.js';
import { type HeartbeatPublisher, publishHeartbeats } from './heartbeat-publisher.js';
import { localHeartbeat, type NodeDescription } from './local-heartbeat.js';
import { serveNodeControl } from './node-control.js';
import type { NodeHeartbeat } from './node-heartbeat.js';

export interface AgentMembershipOptions extends NodeDescription {
  /** the agent's home: the drained state is kept there */
  home: string;
  name: string;
  /** the in-process agent (Agent) */
  agent: NodeAgent;
  /** "fn@version" held warm or prewarmed (Agent.warmVersions) */
  warm: () => string[];
  /** running and waiting calls (a LocalDispatcher's stats); default: the calls running through it */
  load?: () => { running: number; queued: number };
  logger: Logger;
  /** heartbeat interval (default 1 s) */
  intervalMs?: number;
}

export interface AgentMembership {
  /** serve calls through this one (serveNodeAgent): it refuses new calls while drained */
  agent: NodeAgent;
  heartbeat: () => NodeHeartbeat;
  publisher: HeartbeatPublisher;
  state(): 'ready' | 'draining';
  close(): Promise<void>;
}

export async function startAgentMembership(
  nc: NatsConnection,
  o: AgentMembershipOptions,
): Promise<AgentMembership> {
  const drained = await DrainState.load(o.home);
  const state = () => drained.state();
  const agent = new DrainingAgent(o.agent, state);
  if (state() === 'draining')
    o.logger.warn({ node: o.name }, 'this node is drained: `agni node resume` takes it back');
  const heartbeat = localHeartbeat({
    node: o.name,
    address: o.address,
    platforms: o.platforms,
    backends: o.backends,
    slots: o.slots,
    memoryBytes: o.memoryBytes,
    ...(o.labels ? { labels: o.labels } : {}),
    ...(o.volumes ? { volumes: o.volumes } : {}),
    startedAt: Date.now(),
    load: o.load ?? (() => ({ running: agent.active, queued: 0 })),
    warm: o.warm,
    state,
  });
  const publisher = publishHeartbeats(nc, heartbeat, {
    logger: o.logger,
    ...(o.intervalMs ? { intervalMs: o.intervalMs } : {}),
  });
  // A changed state goes out at once, not up to a second later.
  const control = serveNodeControl(
    nc,
    o.name,
    {
      drain: async () => {
        await drained.drain();
        publisher.beat();
      },
      resume: () => {
        drained.resume();
        publisher.beat();
      },
      state,
    },
    { logger: o.logger },
  );
  await nc.flush();
  return {
    agent,
    heartbeat,
    publisher,
    state,
    close: async () => {
      publisher.stop();
      await control.close();
    },
  };
}
