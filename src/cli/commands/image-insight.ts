/** `agni image ls|inspect|rm|prune|similarity`: local rootfs and OCI images as one set. */
import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
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
    .action(async (o: { json?: boolean }) => {
      const r = await new ApiClient().json<{ images: ImageEntry[]; totals: ListTotals }>(
        'GET',
        '/v1/oci/images',
      );
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
    });

  // The verb before `ls` listed both kinds; kept for scripts, OCI images only.
  image
    .command('oci-ls', { hidden: true })
    .description('list OCI images only (use `agni image ls`)')
    .option('--json', 'print as JSON')
    .action(async (o: { json?: boolean }) => {
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
    });

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
    .action(async (name: string, o: { kind?: ImageKind; json?: boolean }) => {
      const i = await new ApiClient().json<Inspection>(
        'GET',
        `/v1/oci/images/${enc(name)}/inspect${kindQuery(o.kind)}`,
      );
      if (o.json) printJson(i);
      else printInspection(i);
    });

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
    .action(async (name: string, o: { kind?: ImageKind; json?: boolean }) => {
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
    });

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
    .action(async (o: { all?: boolean; dryRun?: boolean; json?: boolean }) => {
      const r = await new ApiClient().json<PruneReport>('POST', '/v1/oci/prune', {
        all: !!o.all,
        dryRun: !!o.dryRun,
      });
      if (o.json) printJson(r);
      else process.stdout.write(pruneText(r));
    });

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
    .action(async (images: string[], o: { json?: boolean; svg?: string }) => {
      const q = images.length ? `?images=${enc(images.join(','))}` : '';
      const m = await new ApiClient().json<SimilarityMatrix>('GET', `/v1/oci/similarity${q}`);
      if (o.svg) await writeFile(o.svg, similaritySvg(m));
      if (o.json) return printJson(m);
      const t = similarityTable(m);
      printTable(t.headers, t.rows);
      if (o.svg) process.stdout.write(`wrote ${o.svg}\n`);
    });
}
