/** `agni nodes`, `agni node drain|resume`: the nodes that run calls, and taking one out of service. */
import type { Command } from 'commander';
import { lazyAction } from '../lazy-action.js';

const actions = () => import('./nodes-action.js');

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
    .action(lazyAction(async () => (await actions()).list));

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
      .action(lazyAction(async () => (await actions()).setState(op)));
  }
}
