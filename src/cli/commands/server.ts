import type { Command } from 'commander';
import { lazyAction } from '../lazy-action.js';
import { collect } from '../option-parsers.js';
import { backendOption, listenOptions } from '../role-options.js';

const actions = () => import('./server-action.js');

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
    .action(lazyAction(async () => (await actions()).server));
}
