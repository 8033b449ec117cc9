/** `agni image ls|inspect|rm|prune|similarity`: local rootfs and OCI images as one set. */
import type { Command } from 'commander';
import { lazyAction } from '../lazy-action.js';

const actions = () => import('./image-insight-action.js');

export function registerImageInsight(program: Command): void {
  const image = program.commands.find((c) => c.name() === 'image');
  if (!image) throw new Error('the image command must be registered first');

  image
    .command('ls')
    .description('list images, local rootfs and OCI (pulled or built), with sizes and shared bytes')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      `
SIZE counts every blob an OCI image needs (manifest, config, layers; compressed) and the unpacked
bytes of a rootfs image. SHARED is the part other images need too; the rest is what rm frees.
ARCH is the platform pulled, then (+...) the others its index offers.

Examples:
  agni image ls
  agni image ls --json | jq '.[] | select(.kind == "oci") | .name'`,
    )
    .action(lazyAction(async () => (await actions()).list));

  // The verb before `ls` listed both kinds; kept for scripts, OCI images only.
  image
    .command('oci-ls', { hidden: true })
    .description('list OCI images only (use `agni image ls`)')
    .option('--json', 'print as JSON')
    .action(lazyAction(async () => (await actions()).ociList));

  image
    .command('inspect')
    .argument('<name>', 'an image name or reference, as `agni image ls` shows it')
    .description('digests, platforms, config (Entrypoint, Cmd, Env, ...) and layers of an image')
    .option('--kind <rootfs|oci>', 'which one, when a name means both a rootfs and an OCI image')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  agni image inspect 127.0.0.1:5000/team/fn:v1\n  agni image inspect busybox --kind oci --json',
    )
    .action(lazyAction(async () => (await actions()).inspect));

  image
    .command('rm')
    .argument('<name>', 'an image name or reference, as `agni image ls` shows it')
    .description('remove an image no function version uses, and free the blobs nothing else needs')
    .option('--kind <rootfs|oci>', 'which one, when a name means both a rootfs and an OCI image')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Refused while a function version runs on the image (remove the function with \`agni rm FN\`).
When another name points at the same image, only this name goes.

Examples:
  agni image rm 127.0.0.1:5000/team/fn:v1
  agni image rm busybox --kind rootfs`,
    )
    .action(lazyAction(async () => (await actions()).remove));

  image
    .command('prune')
    .description('remove blobs and unpacked layers no image or function version references')
    .option('--all', 'also remove partial downloads (kept by default so a pull can resume)')
    .option('--dry-run', 'only report what would be removed')
    .option('--json', 'print the report as JSON')
    .addHelpText(
      'after',
      `
Kept: everything an image record needs, the present platforms of a recorded index, and every image
a function version runs on. Also removed: leftovers of crashed unpacks and writes older than an hour.

Examples:
  agni image prune --dry-run
  agni image prune --all --json`,
    )
    .action(lazyAction(async () => (await actions()).prune));

  image
    .command('similarity')
    .argument('[images...]', 'OCI images to compare (default: all)')
    .description("Jaccard similarity of images' layer digests: which images share their layers")
    .option('--json', 'print the matrix as JSON')
    .option('--svg <file>', 'also write the matrix as a heat-map SVG')
    .addHelpText(
      'after',
      `
Each value is |A∩B| / |A∪B| over the two images' layer digests: 1 for the same layers, 0 for none
in common.

Examples:
  agni image similarity
  agni image similarity 127.0.0.1:5000/team/a:1 127.0.0.1:5000/team/b:1 --svg sim.svg`,
    )
    .action(lazyAction(async () => (await actions()).similarity));
}
