import { hostname } from 'node:os';
import type { Command } from 'commander';
import { agniHome, DEFAULT_NATS_URL, defaultSlots, maxPayloadBytes } from '../../app/config.js';
import { formatPlatform } from '../../image/oci/platform.js';
import { backendOption, checkBackend } from '../role-options.js';
import { runUntilSignal } from '../run-until-signal.js';
import { intOption } from './up.js';

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
    .action(
      async (o: {
        nats?: string;
        name?: string;
        slots?: string;
        labels?: string;
        platforms?: string;
        home?: string;
        backend: string;
        egressPool?: string;
        registry?: string;
        insecureRegistry?: boolean;
        volume?: string[];
        queue: string;
      }) => {
        const backend = checkBackend(o.backend);
        const { startAgent } = await import('../../main/agent.js');
        const { parseLabels } = await import('../../core/node-labels.js');
        const { parseVolumeFlags } = await import('../../core/volumes.js');
        const { nodePlatforms, parsePlatformList } = await import('../../image/oci/node-platforms.js');
        const platforms = o.platforms ? parsePlatformList(o.platforms, '--platforms') : nodePlatforms();
        const agent = await startAgent({
          natsUrl: o.nats || process.env.AGNI_NATS_URL || DEFAULT_NATS_URL,
          home: o.home ?? agniHome(),
          name: o.name ?? hostname().split('.')[0]!,
          slots: o.slots ? intOption('--slots', o.slots, 1) : defaultSlots(),
          labels: parseLabels(o.labels ?? process.env.AGNI_LABELS ?? ''),
          platforms,
          backend,
          egressPool: o.egressPool || process.env.AGNI_EGRESS_POOL || undefined,
          maxQueue: intOption('--queue', o.queue, 0),
          maxPayloadBytes: maxPayloadBytes(),
          lambdaRegion: process.env.AGNI_LAMBDA_REGION,
          ...(o.registry || process.env.AGNI_REGISTRY
            ? { registry: o.registry || process.env.AGNI_REGISTRY }
            : {}),
          ...(o.insecureRegistry ? { insecureRegistry: true } : {}),
          volumes: parseVolumeFlags(
            o.volume ?? (process.env.AGNI_VOLUMES ? process.env.AGNI_VOLUMES.split(',') : []),
          ),
        });
        process.stdout.write(`agni agent: node ${agent.name} serving (backend ${agent.backend.name})\n`);
        process.stdout.write(`agni agent: platforms ${platforms.map(formatPlatform).join(', ')}\n`);
        await runUntilSignal('agni agent', () => agent.close());
      },
    );
}
