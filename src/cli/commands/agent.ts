import type { Command } from 'commander';
import { lazyAction } from '../lazy-action.js';
import { backendOption } from '../role-options.js';

const actions = () => import('./agent-action.js');

export function registerAgent(program: Command): void {
  const agent = program
    .command('agent')
    .description(
      'run sandboxes for a cluster: serve calls from `agni server` over NATS (never opens the database)',
    );
  backendOption(agent)
    .option('--nats <url>', "the cluster's NATS (default $AGNI_NATS_URL or nats://127.0.0.1:4222)")
    .option('--name <name>', "this node's name in the cluster (default: the host name)")
    .option('--slots <n>', 'calls run at once on this node (default: cores)')
    .option('--labels <k=v,…>', 'labels placement can select this node by (e.g. gpu=a100,zone=lab2)')
    .option(
      '--platforms <list>',
      'platforms this node runs, best first (default $AGNI_PLATFORMS, else the host + qemu-emulated ones)',
    )
    .option('--home <dir>', 'state directory: sandboxes, pulled images (default $AGNI_HOME or ~/.agni)')
    .option('--registry <host:port>', "the cluster's OCI registry, to pull code and images from")
    .option('--insecure-registry', 'talk http to a registry that is not on loopback')
    .option(
      '--volume <name=path[:ro|:rw]>',
      'a shared directory functions may mount by name, the same on every node that has it (repeatable; also $AGNI_VOLUMES)',
      (v: string, prev: string[] = []) => [...prev, v],
    )
    .option('--queue <n>', 'calls that may wait for a slot on this node', '256')
    .addHelpText(
      'after',
      '\nExamples:\n  agni agent --nats nats://10.0.0.1:4222\n  agni agent --nats nats://10.0.0.1:4222 --name gpu1 --slots 8 --labels gpu=a100\n  agni agent --platforms linux/arm64   # an ARM node, by qemu-user-static emulation',
    )
    .action(lazyAction(async () => (await actions()).agent));
}
