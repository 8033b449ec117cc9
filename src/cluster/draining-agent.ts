/**
 * A node agent that refuses new calls while its node is drained. Servers stop placing calls on a
 * draining node as soon as its heartbeat says so; this covers the calls already on their way. The
 * refusal (`no_node`, before anything ran) lets the server's dispatcher place the call elsewhere.
 */
import { AgniError } from '../core/errors.js';
import type { DispatchRequest, LocalChannel, Placement } from '../dispatch/dispatch-request.js';
import type { NodeAgent, NodeInfo } from '../dispatch/node-agent.js';
import type { SandboxResult } from '../sandbox/backend.js';

export class DrainingAgent implements NodeAgent {
  readonly placement: Placement;
  readonly info: NodeInfo;
  private running = 0;

  constructor(
    private readonly inner: NodeAgent,
    private readonly state: () => 'ready' | 'draining',
  ) {
    this.placement = inner.placement;
    this.info = inner.info;
  }

  /** calls running here now */
  get active(): number {
    return this.running;
  }

  async run(request: DispatchRequest, channel: LocalChannel): Promise<SandboxResult> {
    if (this.state() === 'draining') {
      throw new AgniError('no_node', `node ${this.info.node} is draining: it takes no new calls`, {
        hint: 'the server places the call on another node; `agni node resume NAME` takes the node back',
        details: { node: this.info.node, draining: true },
      });
    }
    this.running++;
    try {
      return await this.inner.run(request, channel);
    } finally {
      this.running--;
    }
  }
}
