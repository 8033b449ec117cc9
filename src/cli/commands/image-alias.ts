/** `agni image alias set/ls/rm`: per-arch stand-ins for single-arch images, kept by the server. */
import type { Command } from 'commander';
import type { ImageAlias } from '../../store/image-alias-repo.js';
import { ApiClient } from '../client.js';
import { ago, printJson, printTable } from '../output.js';

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
    .action(async (canonical: string, img: string, o: { arch: string; json?: boolean }) => {
      const r = await new ApiClient().json<{ alias: ImageAlias }>('PUT', '/v1/image-aliases', {
        canonical,
        arch: o.arch,
        image: img,
      });
      if (o.json) printJson(r.alias);
      else process.stdout.write(`${r.alias.canonical} on ${r.alias.arch} -> ${r.alias.image}\n`);
    });

  alias
    .command('ls')
    .description('list image aliases')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExamples:\n  agni image alias ls\n  agni image alias ls --json')
    .action(async (o: { json?: boolean }) => {
      const { aliases } = await new ApiClient().json<{ aliases: ImageAlias[] }>('GET', '/v1/image-aliases');
      if (o.json) return printJson(aliases);
      printTable(
        ['CANONICAL', 'ARCH', 'IMAGE', 'SET'],
        aliases.map((a) => [a.canonical, a.arch, a.image, ago(a.createdAt)]),
      );
    });

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
    .action(async (canonical: string, o: { arch?: string; json?: boolean }) => {
      const q = new URLSearchParams({ canonical, ...(o.arch ? { arch: o.arch } : {}) });
      const r = await new ApiClient().json<{ canonical: string; removed: number }>(
        'DELETE',
        `/v1/image-aliases?${q}`,
      );
      if (o.json) printJson(r);
      else process.stdout.write(`removed ${r.removed} alias(es) of ${r.canonical}\n`);
    });
}
