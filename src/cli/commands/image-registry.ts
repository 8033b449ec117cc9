/** `agni image pull/push/ls-oci` and `agni login/logout`: registry images through the server. */
import type { Command } from 'commander';
import { lazyAction } from '../lazy-action.js';

const actions = () => import('./image-registry-action.js');

export function registerImageRegistry(program: Command): void {
  const image = program.commands.find((c) => c.name() === 'image');
  if (!image) throw new Error('the image command must be registered first');

  image
    .command('pull')
    .argument('<ref>', 'image reference, e.g. busybox:1.36 or 127.0.0.1:5000/team/fn:v1')
    .description('pull an image from an OCI registry into the server')
    .option(
      '--platform <os/arch[/variant]>',
      "platform to pick from a multi-platform image (default: the server's)",
    )
    .option('--insecure', 'talk plain http to a non-loopback registry')
    .option('--json', 'print the result as JSON (no progress bars)')
    .addHelpText(
      'after',
      '\nExamples:\n  agni image pull busybox\n  agni image pull 127.0.0.1:5000/team/fn:v1 --platform linux/arm64\n  agni image pull ghcr.io/o/r@sha256:<digest> --json',
    )
    .action(lazyAction(async () => (await actions()).pull));

  image
    .command('push')
    .argument('<name>', 'a pulled or built image (as `agni image ls` shows it)')
    .argument('<ref>', 'where to push it, e.g. 127.0.0.1:5000/team/fn:v1')
    .description('push a stored image to an OCI registry (blobs it has are skipped)')
    .option('--insecure', 'talk plain http to a non-loopback registry')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  agni image push docker.io/library/busybox:latest 127.0.0.1:5000/mirror/busybox:1',
    )
    .action(lazyAction(async () => (await actions()).push));

  program
    .command('login')
    .argument('<registry>', 'registry host[:port], e.g. ghcr.io or 127.0.0.1:5000')
    .description('check credentials against a registry and keep them on the server (0600 auth.json)')
    .option('-u, --username <user>', 'user name')
    .option('-p, --password <pass>', 'password (visible in the process list: prefer --password-stdin)')
    .option('--password-stdin', 'read the password from standard input')
    .option('--insecure', 'talk plain http to a non-loopback registry')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  echo "$TOKEN" | agni login ghcr.io -u me --password-stdin\n  agni login 127.0.0.1:5000 -u alice -p secret',
    )
    .action(lazyAction(async () => (await actions()).login));

  program
    .command('logout')
    .argument('<registry>', 'registry host[:port]')
    .description('forget the credentials kept for a registry')
    .addHelpText('after', '\nExamples:\n  agni logout ghcr.io\n  agni logout 127.0.0.1:5000')
    .action(lazyAction(async () => (await actions()).logout));
}
