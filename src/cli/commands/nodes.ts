/** `agni nodes`, `agni node drain|resume`: the nodes that run calls, and taking one out of service. */
import type { Command } from 'commander';
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

export function registerNodes(program: Command): void {
  program
    .command('nodes')
    .option('--json', 'print as JSON')
    .description('list the nodes that run calls: state, platforms, backends, slots, memory, warm versions')
    .addHelpText(
      'after',
      `
A node is ready, draining (takes no new calls) or lost (no heartbeat for 3 s). With \`agni up\`
the one node is the server itself.

Examples:
  agni nodes
  agni nodes --json | jq -r '.[] | select(.state == "ready") | .name'`,
    )
    .action(async (o: { json?: boolean }) => {
      const { nodes } = await new ApiClient().json<{ nodes: NodeView[] }>('GET', '/v1/nodes');
      if (o.json) return printJson(nodes);
      printNodes(nodes);
    });

  const node = program
    .command('node')
    .description('take a cluster node out of service and back (drain, resume)')
    .addHelpText('after', '\nExamples:\n  agni node drain arm-1\n  agni node resume arm-1');

  for (const [op, what, past] of [
    [
      'drain',
      'stop placing new calls on a node; running calls finish; it stays drained across restarts',
      'draining',
    ],
    ['resume', 'put a drained node back in service', 'ready'],
  ] as const) {
    node
      .command(op)
      .argument('<name>', 'the node, as `agni nodes` names it')
      .option('--json', 'print the node as JSON')
      .description(what)
      .addHelpText(
        'after',
        `\nExamples:\n  agni node ${op} arm-1\n  agni nodes    # the node's state is ${past} from now on`,
      )
      .action(async (name: string, o: { json?: boolean }) => {
        const n = await new ApiClient().json<NodeView>(
          'POST',
          `/v1/nodes/${encodeURIComponent(name)}/${op}`,
          {},
        );
        if (o.json) return printJson(n);
        process.stdout.write(`node ${n.name} is ${n.state}\n`);
      });
  }
}
