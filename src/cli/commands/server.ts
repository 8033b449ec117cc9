import { hostname } from 'node:os';
import type { Command } from 'commander';
import { agniHome, defaultSlots, maxPayloadBytes } from '../../app/config.js';
import { AgniError } from '../../core/errors.js';
import { type LimitFlags, limitOptions } from '../../main/limit-options.js';
import { backendOption, checkBackend, listenOptions } from '../role-options.js';
import { runUntilSignal } from '../run-until-signal.js';
import { collect, intOption, listOption } from './up.js';

export function registerServer(program: Command): void {
  const server = program
    .command('server')
    .description(
      'run a cluster server: API, placement, triggers and jobs over PostgreSQL and NATS (run two or more)',
    );
  backendOption(listenOptions(server), "the --agent's ")
    .option(
      '--store <url>',
      'the PostgreSQL database every server shares: postgres://… (default $AGNI_STORE)',
    )
    .option('--nats <url>', "the cluster's NATS (default $AGNI_NATS_URL)")
    .option(
      '--registry <host:port>',
      "the cluster's OCI registry, where deploys are pushed for the agents (default $AGNI_REGISTRY)",
    )
    .option('--insecure-registry', 'talk http to a registry that is not on loopback')
    .option('--labels <k=v,…>', "the --agent's labels")
    .option(
      '--volume <name=path[:ro|:rw]>',
      'a shared directory agni map --ref expands here (mounted at the same place on the agents that have it; repeatable; also $AGNI_VOLUMES)',
      collect,
    )
    .option('--agent', 'also run an agent (sandboxes) in this process')
    .option(
      '--home <dir>',
      "state directory: uploads, images, the --agent's sandboxes (default $AGNI_HOME or ~/.agni)",
    )
    .option('--slots <n>', "the --agent's slots, and async calls in flight from this server (default: cores)")
    .option('--name <name>', "the --agent's node name (default: the host name)")
    .option(
      '--allow-host <name>',
      'a Host name the API answers besides localhost and IP addresses (repeatable; also $AGNI_ALLOWED_HOSTS)',
      collect,
    )
    .option('--grace <duration>', 'on SIGTERM/SIGINT, how long open requests may take to end (default 10s)')
    .addHelpText(
      'after',
      '\nExamples:\n  agni server --store postgres://agni@db:5432/agni --nats nats://10.0.0.1:4222 --registry 10.0.0.1:5000\n  agni server --store postgres://agni@127.0.0.1/agni --nats nats://127.0.0.1:4222 --agent   # one machine',
    )
    .action(
      async (
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
      ) => {
        const store = o.store ?? process.env.AGNI_STORE;
        if (!store)
          throw new AgniError(
            'bad_request',
            '--store: agni server needs --store postgres://… (or $AGNI_STORE)',
          );
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
      },
    );
}
