/** `agni image alias set/ls/rm`: per-arch stand-ins for single-arch images, kept by the server. */
import type { Command } from 'commander';
import { lazyAction } from '../lazy-action.js';

const actions = () => import('./image-alias-action.js');

export function registerImageAlias(program: Command): void {
  const image = program.commands.find((c) => c.name() === 'image');
  if (!image) throw new Error('the image command must be registered first');
  const alias = image
    .command('alias')
    .description('per-architecture aliases: on nodes of an arch, a canonical image name runs another image')
    .addHelpText(
      'after',
      `
A function whose runtime is CANONICAL runs IMAGE on nodes of that arch; on other arches
CANONICAL is used unchanged (an image index there picks the node's own manifest).

Examples:
  agni image alias set 127.0.0.1:5000/tools/bb:1 --arch arm64 127.0.0.1:5000/tools/bb-arm64:1
  agni image alias ls --json
  agni image alias rm 127.0.0.1:5000/tools/bb:1 --arch arm64`,
    );

  alias
    .command('set')
    .argument('<canonical>', 'the name functions use as `runtime:`')
    .argument('<image>', 'the single-arch image to run instead on nodes of --arch')
    .requiredOption(
      '--arch <arch[/variant]>',
      'OCI architecture: amd64, arm64, arm/v7, 386, ppc64le, s390x, riscv64',
    )
    .option('--json', 'print the stored alias as JSON')
    .description('make CANONICAL mean IMAGE on nodes of one architecture (replaces an alias for that arch)')
    .addHelpText(
      'after',
      '\nExamples:\n  agni image alias set 127.0.0.1:5000/tools/bb:1 --arch arm64 127.0.0.1:5000/tools/bb-arm64:1\n  agni image alias set busybox:1.36 --arch arm/v7 arm32v7/busybox:1.36',
    )
    .action(lazyAction(async () => (await actions()).set));

  alias
    .command('ls')
    .description('list image aliases')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExamples:\n  agni image alias ls\n  agni image alias ls --json')
    .action(lazyAction(async () => (await actions()).list));

  alias
    .command('rm')
    .argument('<canonical>', 'the canonical name')
    .option('--arch <arch[/variant]>', 'remove only the alias for this architecture (default: all of them)')
    .option('--json', 'print the result as JSON')
    .description("remove a canonical name's aliases")
    .addHelpText(
      'after',
      '\nExamples:\n  agni image alias rm 127.0.0.1:5000/tools/bb:1 --arch arm64\n  agni image alias rm 127.0.0.1:5000/tools/bb:1',
    )
    .action(lazyAction(async () => (await actions()).remove));
}
