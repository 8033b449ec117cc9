/**
 * What a dispatcher needs of a node: where a call lands, how much it can take, and a way to run
 * one. The dispatcher owns this interface and never sees how a node makes sandboxes: the
 * in-process agent (src/agent/agent.ts) implements it today, a remote agent over NATS later.
 */
import type { Platform } from '../image/oci/media-types.js';
import type { SandboxResult } from '../sandbox/backend.js';
import type { DispatchRequest, LocalChannel, Placement } from './dispatch-request.js';

export interface NodeInfo {
  /** the node's name, as calls record it */
  node: string;
  /** the platforms it can run (native first, then emulated ones) */
  platforms: readonly Platform[];
  /** how many calls it runs at once */
  slots: number;
}

export interface NodeAgent {
  /** what a call placed here records (node and backend) */
  readonly placement: Placement;
  readonly info: NodeInfo;
  /**
   * Runs one call to its end. `channel.io.signal` aborting kills it; rejects only when it could not
   * run at all (AgniError: the function was removed, its image is missing, …).
   */
  run(request: DispatchRequest, channel: LocalChannel): Promise<SandboxResult>;
}
