/**
 * The NATS subjects of cluster mode, all under one prefix so an operator can scope permissions
 * to `agni.cluster.>` (docs/cluster.md).
 */
import { AgniError } from '../core/errors.js';

export const CLUSTER_PREFIX = 'agni.cluster.';

/** every agent publishes its NodeHeartbeat here every second */
export const HEARTBEAT_SUBJECT = `${CLUSTER_PREFIX}hb`;

const NODE_NAME = /^[A-Za-z0-9_-]{1,64}$/;

/** A node name becomes one subject token: no dots, spaces or wildcards. */
export function checkNodeName(name: string, field = '--name'): string {
  if (!NODE_NAME.test(name))
    throw new AgniError(
      'bad_request',
      `${field}: a node name is 1-64 letters, digits, '-' or '_', got ${JSON.stringify(name)}`,
    );
  return name;
}

/** an agent asks the servers (a queue group) for the secrets a version names, sealed for it */
export const SECRETS_SUBJECT = `${CLUSTER_PREFIX}secrets`;

/** a sync call to one agent starts here (request/reply) */
export const runSubject = (node: string): string => `${CLUSTER_PREFIX}node.${node}.run`;
/** drain/resume commands to one agent */
export const ctlSubject = (node: string): string => `${CLUSTER_PREFIX}node.${node}.ctl`;

/** one running call's two directions: what the server sends the agent, and back */
export const callSubjects = (call: string): { toAgent: string; toServer: string } => ({
  toAgent: `${CLUSTER_PREFIX}call.${call}.a`,
  toServer: `${CLUSTER_PREFIX}call.${call}.s`,
});
