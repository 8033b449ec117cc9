import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { Readable } from 'node:stream';
import type { Command } from 'commander';
import { create } from 'tar';
import { AgniError } from '../../core/errors.js';
import { formatBytes } from '../../core/units.js';
import type { ImageRecord } from '../../store/store.js';
import { ApiClient } from '../client.js';
import { ago, printJson, printTable } from '../output.js';

export function registerImages(program: Command): void {
  const image = program.command('image').description('manage local images (root filesystems)');

  image
    .command('import')
    .argument('<name>', 'image name to use as `runtime:` in agni.yaml')
    .argument('<rootfs>', 'a rootfs tarball (.tar or .tar.gz) or a directory')
    .description('import a root filesystem as a local image')
    .option('--json', 'print the result as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  agni image import busybox ./rootfs\n  agni image import debian debian-rootfs.tar.gz',
    )
    .action(async (name: string, path: string, o: { json?: boolean }) => {
      const full = resolve(path);
      const st = await stat(full).catch(() => {
        throw new AgniError('bad_request', `${path}: no such file or directory`, {
          hint: 'pass a rootfs tarball or directory',
        });
      });
      const body = st.isDirectory()
        ? Readable.from(create({ cwd: full, portable: false }, await readdir(full)))
        : createReadStream(full);
      const img = await new ApiClient().upload<ImageRecord>(
        `/v1/images/${encodeURIComponent(name)}`,
        body,
        'application/x-tar',
        {
          'agni-source': full,
        },
      );
      if (o.json) printJson(img);
      else
        process.stdout.write(
          `imported ${img.name} (${img.id}): ${img.files} files, ${formatBytes(img.sizeBytes)}\n`,
        );
    });

  image
    .command('ls')
    .description('list local images')
    .option('--json', 'print as JSON')
    .action(async (o: { json?: boolean }) => {
      const { images } = await new ApiClient().json<{ images: ImageRecord[] }>('GET', '/v1/images');
      if (o.json) return printJson(images);
      printTable(
        ['NAME', 'ID', 'SIZE', 'FILES', 'IMPORTED', 'SOURCE'],
        images.map((i) => [i.name, i.id, formatBytes(i.sizeBytes), i.files, ago(i.createdAt), i.source]),
      );
    });

  image
    .command('rm')
    .argument('<name>', 'image name')
    .description('remove a local image no function version uses')
    .action(async (name: string) => {
      await new ApiClient().json('DELETE', `/v1/images/${encodeURIComponent(name)}`);
      process.stdout.write(`removed image ${name}\n`);
    });
}
