/**
 * What `agni server` does, imported only when it runs (lazy-action.ts); its arguments, options and
 * help are in server.ts.
 */
import { hostname } from 'node:os';
import { agniHome, defaultSlots, maxPayloadBytes } from '../../app/config.js';
import { AgniError } from '../../core/errors.js';
import { type LimitFlags, limitOptions } from '../../main/limit-options.js';
import { intOption, listOption } from '../option-parsers.js';
import { checkBackend } from '../role-options.js';
import { runUntilSignal } from '../run-until-signal.js';

export async function server(
  o: {
    store?: string;
    nats?: string;
    registry?: string;
    insecureRegistry?: boolean;
    labels?: string;
    volume?: string[];
    agent?: boolean;
    home?: string;
    host: string;
    port: string;
    backend: string;
    slots?: string;
    name?: string;
    allowHost?: string[];
  } & LimitFlags,
): Promise<void> {
  const store = o.store ?? process.env.AGNI_STORE;
  if (!store)
    throw new AgniError('bad_request', '--store: agni server needs --store postgres://… (or $AGNI_STORE)');
  const nats = o.nats ?? process.env.AGNI_NATS_URL;
  if (!nats)
    throw new AgniError(
      'bad_request',
      '--nats: agni server needs --nats nats://HOST:4222 (or $AGNI_NATS_URL)',
    );
  const registry = o.registry ?? process.env.AGNI_REGISTRY ?? '';
  const backend = checkBackend(o.backend);
  const { parseLabels } = await import('../../core/node-labels.js');
  const { parseVolumeFlags } = await import('../../core/volumes.js');
  const labels = parseLabels(o.labels ?? '');
  const slots = o.slots ? intOption('--slots', o.slots, 1) : defaultSlots();
  const { startServer } = await import('../../main/server.js');
  const { nodePlatforms } = await import('../../image/oci/node-platforms.js');
  const server = await startServer({
    home: o.home ?? agniHome(),
    store,
    natsUrl: nats,
    registry,
    ...(o.insecureRegistry ? { insecureRegistry: true } : {}),
    volumes: parseVolumeFlags(listOption(o.volume, process.env.AGNI_VOLUMES)),
    host: o.host,
    port: intOption('--port', o.port, 0),
    slots,
    token: process.env.AGNI_TOKEN || undefined,
    allowedHosts: listOption(o.allowHost, process.env.AGNI_ALLOWED_HOSTS),
    maxPayloadBytes: maxPayloadBytes(),
    ...limitOptions(o),
    ...(o.agent
      ? {
          agent: {
            name: o.name ?? hostname().split('.')[0]!,
            slots,
            labels,
            platforms: nodePlatforms(),
            backend,
          },
        }
      : {}),
  });
  process.stdout.write(`agni server: listening on ${server.url}\n`);
  if (server.agent) process.stdout.write(`agni server: agent ${server.agent.name} in this process\n`);
  await runUntilSignal('agni server', async () => {
    await server.close();
  });
}
