/**
 * What `agni image load` and `agni image save` do, imported only when one of them runs
 * (lazy-action.ts); their arguments, options and help are in image-archive.ts.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { PassThrough, Readable, type Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import cliProgress from 'cli-progress';
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

export async function load(
  path: string,
  o: { name?: string; platform?: string; json?: boolean },
): Promise<void> {
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
}

export async function save(
  name: string,
  o: { output: string; format: string; json?: boolean },
): Promise<void> {
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
      else for (const n of await readdir(out)) await rm(resolve(out, n), { recursive: true, force: true });
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
}
