/**
 * What `agni image ls/inspect/rm/prune/similarity` do, imported only when one of them runs
 * (lazy-action.ts); their arguments, options and help are in image-insight.ts.
 */
import { writeFile } from 'node:fs/promises';
import { AgniError } from '../../core/errors.js';
import { formatBytes } from '../../core/units.js';
import type {
  ImageEntry,
  ImageKind,
  Inspection,
  ListTotals,
  RemoveResult,
} from '../../image/image-insight.js';
import type { PruneReport } from '../../image/oci/prune.js';
import type { SimilarityMatrix } from '../../image/oci/similarity.js';
import { similarityTable } from '../../image/oci/similarity.js';
import { similaritySvg } from '../../image/oci/similarity-svg.js';
import { ApiClient } from '../client.js';
import { ago, printJson, printTable } from '../output.js';

const enc = encodeURIComponent;

function kindQuery(kind: string | undefined): string {
  if (kind === undefined) return '';
  if (kind !== 'rootfs' && kind !== 'oci')
    throw new AgniError('bad_request', `--kind: expected rootfs or oci (got "${kind}")`);
  return `?kind=${kind}`;
}

/** `amd64 (+arm64,arm/v7)`: the platform pulled, then what the index also offers; os left out when linux. */
export function archText(archs: string[]): string {
  if (archs.length === 0) return '-';
  const short = archs.map((a) => a.replace(/^linux\//, ''));
  return short.length > 1 ? `${short[0]} (+${short.slice(1).join(',')})` : short[0]!;
}

function totalsLine(t: ListTotals): string {
  const parts = [`${t.images + t.rootfsImages} image(s): ${t.images} oci, ${t.rootfsImages} rootfs`];
  if (t.images) {
    parts.push(
      `oci ${formatBytes(t.apparentBytes)} in all, ${formatBytes(t.referencedBytes)} stored once (sharing saves ${formatBytes(t.savedBytes)})`,
    );
  }
  if (t.reclaimableBytes) parts.push(`${formatBytes(t.reclaimableBytes)} unreferenced (agni image prune)`);
  if (t.rootfsImages) parts.push(`rootfs ${formatBytes(t.rootfsBytes)}`);
  return `${parts.join('; ')}\n`;
}

function printInspection(i: Inspection): void {
  const out: string[] = [];
  const row = (k: string, v: string) => out.push(`${`${k}:`.padEnd(12)}${v}`);
  row('name', `${i.name} (${i.kind})`);
  if (i.kind === 'rootfs') {
    row('id', i.id ?? '');
    row('rootfs', i.rootfs);
    row('size', `${formatBytes(i.sizeBytes)}, ${i.files} files`);
    row('source', i.source ?? '');
    row('imported', ago(i.createdAt));
    row('used by', i.usedBy.join(', ') || '-');
    process.stdout.write(`${out.join('\n')}\n`);
    return;
  }
  row('manifest', i.manifestDigest ?? '');
  if (i.indexDigest) row('index', i.indexDigest);
  row('config', i.configDigest ?? '');
  row('platform', i.architectures.join(', ') || '-');
  row('created', `${i.created ?? '-'} (pulled ${ago(i.createdAt)})`);
  row(
    'size',
    `${formatBytes(i.sizeBytes)} (unique ${formatBytes(i.uniqueBytes)}, shared ${formatBytes(i.sharedBytes)})`,
  );
  row('used by', i.usedBy.join(', ') || '-');
  const c = i.config;
  const list = (v: string[] | null | undefined) => (v?.length ? JSON.stringify(v) : '-');
  row('Entrypoint', list(c.Entrypoint));
  row('Cmd', list(c.Cmd));
  row('WorkingDir', c.WorkingDir ?? '-');
  row('User', c.User ?? '-');
  if (c.Env?.length) out.push('Env:');
  else row('Env', '-');
  for (const e of c.Env ?? []) out.push(`  ${e}`);
  process.stdout.write(`${out.join('\n')}\n\n`);
  printTable(
    ['LAYER', 'SIZE', 'MEDIA TYPE', 'UNPACKED', 'SHARED WITH'],
    i.layers.map((l) => [
      l.digest.slice(0, 19),
      formatBytes(l.size),
      l.mediaType.replace(/^application\/vnd\./, ''),
      l.present ? (l.unpacked ? 'yes' : 'no') : 'missing',
      l.sharedWith.join(', ') || '-',
    ]),
  );
}

function pruneText(r: PruneReport): string {
  const verb = r.dryRun ? 'would free' : 'freed';
  let s = `${verb} ${formatBytes(r.freedBytes)}: ${r.blobs} blob(s) (${formatBytes(r.blobBytes)}), ${r.layerDirs} unpacked layer(s) (${formatBytes(r.layerBytes)}), ${r.leftovers} leftover(s) (${formatBytes(r.leftoverBytes)})\n`;
  if (r.partialsKept)
    s += `kept ${r.partialsKept} partial download(s) (${formatBytes(r.partialBytesKept)}) a pull can resume; --all removes them\n`;
  if (r.layerDirsInUse) s += `kept ${r.layerDirsInUse} unpacked layer(s) a running sandbox still mounts\n`;
  return s;
}

export async function list(o: { json?: boolean }): Promise<void> {
  const r = await new ApiClient().json<{ images: ImageEntry[]; totals: ListTotals }>('GET', '/v1/oci/images');
  if (o.json) return printJson(r.images);
  printTable(
    ['NAME', 'KIND', 'ARCH', 'SIZE', 'SHARED', 'LAYERS', 'CREATED'],
    r.images.map((i) => [
      i.name,
      i.kind,
      archText(i.architectures),
      formatBytes(i.sizeBytes),
      i.kind === 'oci' ? formatBytes(i.sharedBytes) : '-',
      i.kind === 'oci' ? i.layerCount : '-',
      ago(i.createdAt),
    ]),
  );
  process.stdout.write(totalsLine(r.totals));
}

export async function ociList(o: { json?: boolean }): Promise<void> {
  const { images } = await new ApiClient().json<{ images: ImageEntry[] }>('GET', '/v1/oci/images');
  const oci = images.filter((i) => i.kind === 'oci');
  if (o.json) return printJson(oci);
  printTable(
    ['NAME', 'DIGEST', 'PLATFORM', 'SIZE', 'PULLED'],
    oci.map((i) => [
      i.name,
      (i.manifestDigest ?? '').slice(0, 19),
      i.platform ?? '',
      formatBytes(i.sizeBytes),
      ago(i.createdAt),
    ]),
  );
}

export async function inspect(name: string, o: { kind?: ImageKind; json?: boolean }): Promise<void> {
  const i = await new ApiClient().json<Inspection>(
    'GET',
    `/v1/oci/images/${enc(name)}/inspect${kindQuery(o.kind)}`,
  );
  if (o.json) printJson(i);
  else printInspection(i);
}

export async function remove(name: string, o: { kind?: ImageKind; json?: boolean }): Promise<void> {
  const r = await new ApiClient().json<RemoveResult>(
    'DELETE',
    `/v1/oci/images/${enc(name)}${kindQuery(o.kind)}`,
  );
  if (o.json) return printJson(r);
  if (r.stillNamedBy.length) {
    process.stdout.write(`removed the name ${r.name}; the image stays as ${r.stillNamedBy.join(', ')}\n`);
  } else if (r.kind === 'rootfs') {
    process.stdout.write(`removed rootfs image ${r.name}: freed ${formatBytes(r.freedBytes)}\n`);
  } else {
    process.stdout.write(
      `removed ${r.name}: freed ${formatBytes(r.freedBytes)} (${r.blobs} blob(s), ${r.layerDirs} unpacked layer(s))\n`,
    );
  }
}

export async function prune(o: { all?: boolean; dryRun?: boolean; json?: boolean }): Promise<void> {
  const r = await new ApiClient().json<PruneReport>('POST', '/v1/oci/prune', {
    all: !!o.all,
    dryRun: !!o.dryRun,
  });
  if (o.json) printJson(r);
  else process.stdout.write(pruneText(r));
}

export async function similarity(images: string[], o: { json?: boolean; svg?: string }): Promise<void> {
  const q = images.length ? `?images=${enc(images.join(','))}` : '';
  const m = await new ApiClient().json<SimilarityMatrix>('GET', `/v1/oci/similarity${q}`);
  if (o.svg) await writeFile(o.svg, similaritySvg(m));
  if (o.json) return printJson(m);
  const t = similarityTable(m);
  printTable(t.headers, t.rows);
  if (o.svg) process.stdout.write(`wrote ${o.svg}\n`);
}
