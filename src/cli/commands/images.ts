import type { Command } from 'commander';
import { lazyAction } from '../lazy-action.js';

const actions = () => import('./images-action.js');

export function registerImages(program: Command): void {
  const image = program
    .command('image')
    .description('manage images: local root filesystems and OCI images from registries or builds')
    .addHelpText(
      'after',
      '\nExamples:\n  agni image import busybox ./rootfs\n  agni image pull docker.io/library/alpine:3.20\n  agni image ls',
    );

  image
    .command('import')
    .argument('<name>', 'image name to use as `runtime:` in agni.yaml')
    .argument('<rootfs>', 'a rootfs tarball (.tar or .tar.gz) or a directory')
    .description('import a root filesystem as an OCI image of one layer')
    .option(
      '--platform <os/arch>',
      "where the image runs (default: this server's platform), e.g. linux/arm64",
    )
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
The image is an OCI image like a pulled one: deploy on it (runtime: NAME), build on it, push it
(agni image push NAME REF) and compare it (agni image similarity).
Symlinks are kept as they are (absolute ones resolve inside the sandbox's root); device nodes and
FIFOs are left out (sandboxes get their own /dev).

Examples:
  agni image import busybox ./rootfs
  debootstrap --variant=minbase bookworm ./debian && agni image import debian ./debian
  agni image import debian debian-rootfs.tar.gz
  agni image import --platform linux/arm64 armbox ./arm64-rootfs`,
    )
    .action(lazyAction(async () => (await actions()).importRootfs));
  // ls, inspect, rm, prune and similarity cover both kinds of image: image-insight.ts.
}
