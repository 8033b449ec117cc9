/**
 * Everything of membership and placement an `agni server` runs, in one call for its composition
 * root: the node directory fed by heartbeats, the cluster dispatcher over it, and the admin
 * behind /v1/nodes.
 */
import type { NatsConnection } from 'nats';
import type { Logger } from 'pino';
import { ClusterDispatcher } from '../dispatch/cluster-dispatcher.js';
import type { NodeAgent } from '../dispatch/node-agent.js';
import { ClusterNodeAdmin } from './node-admin.js';
import { NodeDirectory } from './node-directory.js';
import type { NodeHeartbeat } from './node-heartbeat.js';
import { type ImagePlatforms, versionNeeds } from './version-needs.js';

export interface ServerPlacementOptions {
  logger: Logger;
  /** the NodeAgent for a node (NatsNodeAgent); the directory is there to give it isLost/onLost */
  agentFor: (hb: NodeHeartbeat, directory: NodeDirectory) => NodeAgent;
  /** the platforms of an OCI image id (recordedImagePlatforms, or code distribution's) */
  imagePlatforms: ImagePlatforms;
  maxQueue?: number;
}

export interface ServerPlacement {
  directory: NodeDirectory;
  dispatcher: ClusterDispatcher;
  nodes: ClusterNodeAdmin;
  /** closes the dispatcher (waits for running calls), then stops listening to heartbeats */
  close(): Promise<void>;
}

export async function startServerPlacement(
  nc: NatsConnection,
  o: ServerPlacementOptions,
): Promise<ServerPlacement> {
  const directory = await NodeDirectory.subscribe(nc, { logger: o.logger });
  const dispatcher = new ClusterDispatcher({
    directory,
    agentFor: (hb) => o.agentFor(hb, directory),
    needs: versionNeeds(o.imagePlatforms),
    logger: o.logger,
    ...(o.maxQueue !== undefined ? { maxQueue: o.maxQueue } : {}),
  });
  return {
    directory,
    dispatcher,
    nodes: new ClusterNodeAdmin(directory, nc),
    close: async () => {
      await dispatcher.close();
      directory.close();
    },
  };
}
