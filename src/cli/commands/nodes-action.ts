/**
 * What `agni nodes` and `agni node drain/resume` do, imported only when one of them runs
 * (lazy-action.ts); their arguments, options and help are in nodes.ts.
 */
import type { NodeView } from '../../cluster/node-admin.js';
import { formatBytes } from '../../core/units.js';
import { ApiClient } from '../client.js';
import { printJson, printTable } from '../output.js';

/** a heartbeat's age, short: 0.4s, 12s, 3m */
function age(ms: number): string {
  if (ms < 10_000) return `${(ms / 1000).toFixed(1)}s`;
  if (ms < 120_000) return `${Math.round(ms / 1000)}s`;
  return `${Math.round(ms / 60_000)}m`;
}

function warmList(warm: string[]): string {
  if (warm.length === 0) return '-';
  return warm.length <= 3 ? warm.join(',') : `${warm.slice(0, 3).join(',')} +${warm.length - 3}`;
}

export function printNodes(nodes: NodeView[]): void {
  printTable(
    ['NAME', 'STATE', 'PLATFORMS', 'BACKENDS', 'SLOTS USED/FREE', 'MEMORY', 'WARM', 'HEARTBEAT'],
    nodes.map((n) => [
      n.name,
      n.state,
      n.platforms.join(','),
      n.backends.join(','),
      `${n.running}/${n.free}${n.queued ? ` (+${n.queued} queued)` : ''}`,
      formatBytes(n.memoryBytes),
      warmList(n.warm),
      `${age(n.lastHeartbeatMs)} ago`,
    ]),
  );
}

export async function list(o: { json?: boolean }): Promise<void> {
  const { nodes } = await new ApiClient().json<{ nodes: NodeView[] }>('GET', '/v1/nodes');
  if (o.json) return printJson(nodes);
  printNodes(nodes);
}

/** the action of `agni node drain` or `agni node resume` */
export function setState(op: 'drain' | 'resume') {
  return async (name: string, o: { json?: boolean }): Promise<void> => {
    const n = await new ApiClient().json<NodeView>('POST', `/v1/nodes/${encodeURIComponent(name)}/${op}`, {});
    if (o.json) return printJson(n);
    process.stdout.write(`node ${n.name} is ${n.state}\n`);
  };
}
