/**
 * What `agni agent` does, imported only when it runs (lazy-action.ts); its arguments, options and help
 * are in agent.ts.
 */
import { hostname } from 'node:os';
import { agniHome, DEFAULT_NATS_URL, defaultSlots, maxPayloadBytes } from '../../app/config.js';
import { formatPlatform } from '../../image/oci/platform.js';
import { intOption } from '../option-parsers.js';
import { checkBackend } from '../role-options.js';
import { runUntilSignal } from '../run-until-signal.js';

export async function agent(o: {
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
}): Promise<void> {
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
    ...(o.registry || process.env.AGNI_REGISTRY ? { registry: o.registry || process.env.AGNI_REGISTRY } : {}),
    ...(o.insecureRegistry ? { insecureRegistry: true } : {}),
    volumes: parseVolumeFlags(
      o.volume ?? (process.env.AGNI_VOLUMES ? process.env.AGNI_VOLUMES.split(',') : []),
    ),
  });
  process.stdout.write(`agni agent: node ${agent.name} serving (backend ${agent.backend.name})\n`);
  process.stdout.write(`agni agent: platforms ${platforms.map(formatPlatform).join(', ')}\n`);
  await runUntilSignal('agni agent', () => agent.close());
}
