/** `agni image load` and `agni image save`: docker save / podman save tarballs and OCI layouts. */
import type { Command } from 'commander';
import { lazyAction } from '../lazy-action.js';

const actions = () => import('./image-archive-action.js');

export function registerImageArchive(program: Command): void {
  const image = program.commands.find((c) => c.name() === 'image');
  if (!image) throw new Error('the image command must be registered first');

  image
    .command('load')
    .argument(
      '<path>',
      'a docker save / podman save tarball, an OCI archive, an OCI layout directory, or - for stdin',
    )
    .description('load images from an image archive into the server (every tagged image in it)')
    .option('--name <ref>', "name the archive's only image, or load just the one of several with this name")
    .option(
      '--platform <os/arch[/variant]>',
      "for a multi-platform image: the platform its name points at (default: the server's)",
    )
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Examples:
  docker save busybox:1.36 -o busybox.tar && agni image load busybox.tar
  podman save --format oci-archive -o fn.tar localhost/fn:v1 && agni image load fn.tar
  skopeo copy docker://busybox:1.36 oci:bb:1.36 && agni image load bb --name busybox:1.36
  docker save busybox | agni image load -

Names come from the archive (RepoTags, or index.json's io.containerd.image.name /
org.opencontainers.image.ref.name annotations), normalised like \`agni image pull\` names.`,
    )
    .action(lazyAction(async () => (await actions()).load));

  image
    .command('save')
    .argument('<image>', 'a stored image, as `agni image ls` names it')
    .description('save a stored image as an OCI layout directory, an OCI archive or a docker-archive')
    .requiredOption('-o, --output <path>', 'where to write it (- for stdout, archives only)')
    .option('--format <format>', 'oci-dir, oci-archive or docker-archive', 'oci-archive')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      `
Examples:
  agni image save busybox:1.36 -o busybox.tar --format docker-archive && docker load -i busybox.tar
  agni image save 127.0.0.1:5000/team/fn:v1 -o fn-layout --format oci-dir && skopeo inspect oci:fn-layout
  agni image save fn:v1 -o - | gzip > fn.oci.tar.gz

Output is deterministic: the same image gives the same bytes. docker-archive is the form
Docker 25 writes (an OCI layout plus manifest.json), which older docker load reads too.`,
    )
    .action(lazyAction(async () => (await actions()).save));
}
