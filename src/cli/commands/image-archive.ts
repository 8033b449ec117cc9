/** `agni image load` and `agni image save`: docker save / podman save tarballs and OCI layouts. */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { PassThrough, Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import cliProgress from 'cli-progress';
import type { Command } from 'commander';
import { create, extract } from 'tar';
import { AgniError } from '../../core/errors.js';
import { formatBytes } from '../../core/units.js';
import { notAnImageArchive } from '../../image/oci/archive-paths.js';
import type { OciImageRecord } from '../../store/oci-image-repo.js';
import { isImageArchive } from '../archive-detect.js';
import { ApiClient, errorFromBody, readAll } from '../client.js';
import { printJson } from '../output.js';

const SAVE_FORMATS: Record<string, string> = {
  'oci-dir': 'oci',
  'oci-archive': 'oci-archive',
  'docker-archive': 'docker-archive',
};

/** Counts bytes through a bar on stderr when it is a terminal and output is not JSON. */
function withProgress(body: Readable, total: number | undefined, label: string, json: boolean): Readable {
  if (json || !process.stderr.isTTY || !total) return body;
  const bar = new cliProgress.SingleBar(
    { format: ` ${label} [{bar}] {percentage}% {done}/{size}`, hideCursor: true, stream: process.stderr },
    cliProgress.Presets.shades_classic,
  );
  bar.start(total, 0, { done: formatBytes(0), size: formatBytes(total) });
  let done = 0;
  const counted = new PassThrough();
  counted.on('data', (c: Buffer) => {
    done += c.length;
    bar.update(done, { done: formatBytes(done) });
  });
  counted.on('end', () => bar.stop());
  counted.on('error', () => bar.stop());
  body.on('error', (e) => counted.destroy(e));
  return body.pipe(counted);
}

async function loadBody(path: string): Promise<{ body: Readable; size?: number }> {
  if (path === '-') return { body: process.stdin };
  const full = resolve(path);
  const st = await stat(full).catch(() => {
    throw new AgniError('bad_request', `${path}: no such file or directory`, {
      hint: 'pass a docker save / podman save tarball, an OCI archive, or an OCI layout directory',
    });
  });
  if (!st.isDirectory()) return { body: createReadStream(full), size: st.size };
  if (!(await isImageArchive(full, true))) {
    throw notAnImageArchive(`${path} has neither oci-layout/index.json nor manifest.json at its top`);
  }
  // The server reads tars only: a layout directory travels as a tar of its contents.
  const names = (await readdir(full)).sort();
  return { body: Readable.from(create({ cwd: full, portable: true }, names)) };
}

/** An empty or new directory for an OCI layout; true when this call created it. */
async function layoutDir(out: string): Promise<boolean> {
  const st = await stat(out).catch(() => undefined);
  if (!st) {
    await mkdir(out, { recursive: true });
    return true;
  }
  if (!st.isDirectory() || (await readdir(out)).length > 0) {
    throw new AgniError('bad_request', `-o ${out}: exists and is not an empty directory`, {
      hint: 'give a new path (it is created) or an empty directory for --format oci-dir',
    });
  }
  return false;
}

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
    .action(async (path: string, o: { name?: string; platform?: string; json?: boolean }) => {
      const { body, size } = await loadBody(path);
      const q = new URLSearchParams();
      if (o.name) q.set('name', o.name);
      if (o.platform) q.set('platform', o.platform);
      const r = await new ApiClient().upload<{ format: string; images: OciImageRecord[] }>(
        `/v1/oci/load${q.size ? `?${q}` : ''}`,
        withProgress(body, size, 'upload', !!o.json),
        'application/x-tar',
      );
      if (o.json) return printJson(r);
      for (const i of r.images) {
        process.stdout.write(
          `loaded ${i.name} (${i.manifestDigest}) ${i.platform}, ${formatBytes(i.sizeBytes)}\n`,
        );
      }
    });

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
    .action(async (name: string, o: { output: string; format: string; json?: boolean }) => {
      const format = SAVE_FORMATS[o.format];
      if (!format) {
        throw new AgniError(
          'bad_request',
          `--format ${o.format}: expected one of ${Object.keys(SAVE_FORMATS).join(', ')}`,
        );
      }
      if (o.output === '-' && o.format === 'oci-dir') {
        throw new AgniError('bad_request', '-o -: --format oci-dir needs a directory', {
          hint: 'write an archive to stdout with --format oci-archive or docker-archive',
        });
      }
      const q = new URLSearchParams({ name, format });
      const res = await new ApiClient().request(
        'GET',
        `/v1/oci/save?${q}`,
        Buffer.alloc(0),
        'application/octet-stream',
      );
      if (res.status >= 300) throw errorFromBody(res.status, await readAll(res.body));
      const total = Number(res.headers['content-length']);
      const body = withProgress(res.body, total, 'save', !!o.json || o.output === '-');
      const out = resolve(o.output);
      if (o.format === 'oci-dir') {
        const created = await layoutDir(out);
        try {
          await pipeline(body, extract({ cwd: out, strict: true }) as unknown as Writable);
        } catch (e) {
          if (created) await rm(out, { recursive: true, force: true });
          else
            for (const n of await readdir(out)) await rm(resolve(out, n), { recursive: true, force: true });
          throw e;
        }
      } else if (o.output === '-') {
        await pipeline(body, process.stdout);
      } else {
        // Written aside and renamed, so PATH is never a half-written archive.
        const tmp = `${out}.${process.pid}.part`;
        try {
          await pipeline(body, createWriteStream(tmp));
          await rename(tmp, out);
        } catch (e) {
          await rm(tmp, { force: true });
          throw e;
        }
      }
      const result = {
        name: String(res.headers['agni-image-name'] ?? name),
        format: o.format,
        path: o.output === '-' ? '-' : out,
        bytes: total,
        manifestDigest: String(res.headers['agni-manifest-digest'] ?? ''),
        digest: String(res.headers['agni-top-digest'] ?? ''),
        blobs: Number(res.headers['agni-blobs'] ?? 0),
      };
      if (o.json) return o.output === '-' ? undefined : printJson(result);
      if (o.output !== '-') {
        process.stdout.write(
          `saved ${result.name} (${result.digest}) as ${o.format} to ${out}: ${result.blobs} blob(s), ${formatBytes(total)}\n`,
        );
      }
    });
}
