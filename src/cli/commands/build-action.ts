/**
 * What `agni build` and `agni push` do, and the build step of `agni deploy --build`; imported only
 * when one of them runs (lazy-action.ts). Their arguments, options and help are in build.ts.
 */
import { readFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { AgniError } from '../../core/errors.js';
import type { Manifest } from '../../core/manifest.js';
import { formatBytes } from '../../core/units.js';
import type { BuildResult } from '../../image/oci/build-service.js';
import { ApiClient } from '../client.js';
import { type DirUpload, functionUpload, skippedSummary } from '../dir-upload.js';
import { printJson } from '../output.js';
import { type PushOutcome, printPushed, pushStored } from './image-registry-action.js';

export interface BuildFlags {
  tag?: string;
  platform?: string;
  push?: boolean;
  pull?: boolean;
  insecure?: boolean;
  json?: boolean;
}

/** Reads and checks DIR/agni.yaml here, so an error names the user's own path. */
export async function readFunctionDir(dir: string): Promise<{ root: string; manifest: Manifest }> {
  const root = resolve(dir);
  const file = join(root, 'agni.yaml');
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch {
    throw new AgniError('manifest_invalid', `${file}: not found`, {
      hint: 'a function directory needs an agni.yaml; see README.md',
    });
  }
  const { parseManifest } = await import('../../core/manifest.js');
  return { root, manifest: parseManifest(text, file) };
}

function checkPlatforms(text: string): void {
  for (const p of text.split(',')) {
    if (!/^[a-z0-9_.-]+\/[a-z0-9_.-]+(\/[a-z0-9_.-]+)?$/.test(p.trim())) {
      throw new AgniError('bad_request', `--platform "${p}": expected os/arch[/variant], e.g. linux/arm64`, {
        hint: 'several: --platform linux/amd64,linux/arm64',
      });
    }
  }
}

/** What the CLI left out of the upload: `skipped` in --json output (ignore rules, then special files). */
export function skippedList(u: DirUpload): string[] {
  return [...u.skipped, ...u.special];
}

export type BuiltDir = BuildResult & { skipped: string[] };

export async function buildDir(dir: string, o: BuildFlags): Promise<BuiltDir> {
  const { root, manifest } = await readFunctionDir(dir);
  if (manifest.runtime === 'host') {
    throw new AgniError(
      'manifest_invalid',
      `${join(root, 'agni.yaml')}: field \`runtime\`: \`host\` is not an image: agni build needs a base image from a registry`,
      { hint: 'set runtime: to an image reference such as busybox:1.36 or 127.0.0.1:5000/team/base:1' },
    );
  }
  if (o.platform) checkPlatforms(o.platform);
  if (o.push && !o.tag) {
    throw new AgniError('bad_request', '--push needs -t REF naming where to push', {
      hint: 'e.g. agni build ./fn -t 127.0.0.1:5000/team/fn:v1 --push',
    });
  }
  const q = new URLSearchParams();
  if (o.tag) q.set('tag', o.tag);
  if (o.platform) q.set('platform', o.platform);
  if (o.pull) q.set('pull', '1');
  if (o.insecure) q.set('insecure', '1');
  if (process.env.SOURCE_DATE_EPOCH) q.set('sourceDateEpoch', process.env.SOURCE_DATE_EPOCH);
  const query = q.toString();
  const upload = await functionUpload(root);
  if (!o.json) process.stdout.write(skippedSummary(upload));
  const r = await new ApiClient().upload<BuildResult>(
    `/v1/oci/build${query ? `?${query}` : ''}`,
    upload.body,
    'application/gzip',
  );
  return { ...r, skipped: skippedList(upload) };
}

function printBuilt(r: BuildResult): void {
  const what = r.indexDigest
    ? `index ${r.indexDigest} over ${r.platforms.join(', ')}`
    : `${r.manifestDigest} ${r.platforms[0]}`;
  process.stdout.write(
    `built ${r.reference} (${what}), ${r.layers} layer(s), ${formatBytes(r.sizeBytes)}; function layer ${formatBytes(r.layer.size)}\n`,
  );
}

/**
 * Builds, pushes when asked, and returns the reference a deploy pins: the tag at the digest just
 * made (the index when there is one, so each node picks its platform).
 */
export async function buildAndMaybePush(
  dir: string,
  o: BuildFlags,
): Promise<{ build: BuiltDir; push?: PushOutcome; runtime: string }> {
  const build = await buildDir(dir, o);
  if (!o.json) printBuilt(build);
  let push: PushOutcome | undefined;
  if (o.push) {
    push = await pushStored(build.reference, build.reference, o);
    if (!o.json) printPushed(push);
  }
  const digest = push?.digest ?? build.indexDigest ?? build.manifestDigest;
  return { build, ...(push ? { push } : {}), runtime: `${build.reference}@${digest}` };
}

export async function build(dir: string, o: BuildFlags): Promise<void> {
  const r = await buildAndMaybePush(dir, o);
  if (o.json) printJson(r.push ? { ...r.build, push: r.push } : r.build);
}

export async function push(
  image: string,
  target: string | undefined,
  o: { insecure?: boolean; json?: boolean },
): Promise<void> {
  const r = await pushStored(image, target ?? image, o);
  if (o.json) printJson(r);
  else printPushed(r);
}
