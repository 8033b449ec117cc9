/**
 * `npm run bench:pull`: time to pull and unpack images of about 10 MiB, 100 MiB and 1 GiB
 * (9 layers: busybox under 8 layers of random files, gzip level 1) from a loopback
 * docker-registry, and the time to the first invocation of a function deployed on them, beside
 * floors measured in the same run on the same blobs: curl and Node fetch to nowhere, curl to files
 * plus fsync and SHA-256, and GNU `tar -xzf` of each layer. Every run starts from a fresh
 * AGNI_HOME, and every timed step starts after a `sync`.
 *
 * Flags: --sizes 10,100,1024 (MiB)  --runs 3  --runs-1g 1 (runs for sizes of 1 GiB and up)
 *        --no-invoke (pull and unpack only)
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, statfsSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import pino from 'pino';
import { timeCommand } from '../src/bench/baselines.js';
import {
  type BenchImage,
  type BenchLayer,
  planLayerSizes,
  pushBenchImage,
  writeBusyboxLayer,
  writeRandomLayer,
} from '../src/bench/pull-images.js';
import { type PullMeasure, type PullSizeResult, pullRatios, pullTable } from '../src/bench/pull-report.js';
import { summarize } from '../src/bench/stats.js';
import { stamp } from '../src/core/phases.js';
import { formatBytes, formatMs } from '../src/core/units.js';
import { ImageRootfsResolver } from '../src/image/oci/image-rootfs.js';
import { hostPlatform } from '../src/image/oci/platform.js';
import { OciImages } from '../src/image/oci/pull-service.js';
import { RegistryClient } from '../src/image/oci/registry-client.js';
import { startEmbedded } from '../src/main/embedded.js';
import { SqlOciImageRepository } from '../src/store/oci-image-repo.js';
import { openSqliteStore } from '../src/store/sqlite.js';
import { startRegistry } from '../test/helpers/registry.js';
import { tarOf } from '../test/helpers/tarball.js';

const execFileP = promisify(execFile);
const MiB = 2 ** 20;
const DATA_LAYERS = 8;
/** as pull.ts fetches layers, so the curl floor gets the same parallelism */
const FETCH_PARALLEL = 3;

const { values: flags } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10,100,1024' },
    runs: { type: 'string', default: '3' },
    'runs-1g': { type: 'string', default: '1' },
    'no-invoke': { type: 'boolean', default: false },
  },
});
const sizesMiB = flags.sizes.split(',').map(Number);
const runsFor = (mib: number) => Number(mib >= 1024 ? flags['runs-1g'] : flags.runs);
if (sizesMiB.some((s) => !(s > 1)) || !(runsFor(1) >= 1) || !(runsFor(1024) >= 1)) {
  process.stderr.write(
    'usage: pull-bench [--sizes 10,100,1024 (MiB, > 1)] [--runs N] [--runs-1g N] [--no-invoke]\n',
  );
  process.exit(64);
}

const log = (s: string) => process.stderr.write(`${s}\n`);
const label = (mib: number) => (mib >= 1024 ? `${mib / 1024} GiB` : `${mib} MiB`);

/** Flushes dirty pages (not timed). */
async function settle(): Promise<void> {
  await execFileP('sync');
}

function freeBytes(dir: string): number {
  const s = statfsSync(dir);
  return s.bavail * s.bsize;
}

/** Mounts a crashed sandbox might leave under `dir`: never rm -rf through them. */
async function unmountUnder(dir: string): Promise<void> {
  const mounts = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const m of mounts) await execFileP('umount', ['-l', m]);
}

async function removeHome(dir: string): Promise<void> {
  await unmountUnder(dir);
  rmSync(dir, { recursive: true, force: true });
}

function blobUrls(host: string, img: BenchImage): string[] {
  return [img.configDigest, ...img.layers.map((l) => l.digest)].map(
    (d) => `http://${host}/v2/${img.repo}/blobs/${d}`,
  );
}

/** The transfer floor: every blob to /dev/null, FETCH_PARALLEL at a time, one curl process. */
function curlFloor(urls: string[]): Promise<number> {
  const outs = urls.flatMap((u) => ['-o', '/dev/null', u]);
  return timeCommand('curl', [
    '-s',
    '--fail',
    '--parallel',
    '--parallel-max',
    String(FETCH_PARALLEL),
    ...outs,
  ]);
}

/** Node's own HTTP client (undici, as the registry client uses), bodies read and dropped. */
async function fetchFloor(urls: string[]): Promise<number> {
  const queue = [...urls];
  const t0 = stamp();
  await Promise.all(
    Array.from({ length: FETCH_PARALLEL }, async () => {
      for (let u = queue.shift(); u; u = queue.shift()) {
        const res = await fetch(u);
        if (!res.ok || !res.body) throw new Error(`fetch floor: ${u} answered ${res.status}`);
        for await (const _ of res.body) {
          // drop the bytes
        }
      }
    }),
  );
  return stamp() - t0;
}

/**
 * What a pull does, with stock tools: curl every blob to a file, fsync them (coreutils `sync FILE`;
 * the content store fsyncs each blob), and hash them with `openssl dgst -sha256` (OpenSSL's SHA-256,
 * as Node's; coreutils sha256sum is 3-4x slower here).
 */
async function curlShaFloor(urls: string[], img: BenchImage, dir: string): Promise<number> {
  mkdirSync(dir, { recursive: true });
  const files = urls.map((_, i) => join(dir, `blob-${i}`));
  const outs = urls.flatMap((u, i) => ['-o', files[i]!, u]);
  const t0 = stamp();
  await execFileP('curl', ['-s', '--fail', '--parallel', '--parallel-max', String(FETCH_PARALLEL), ...outs]);
  await execFileP('sync', files);
  const { stdout } = await execFileP('openssl', ['dgst', '-sha256', '-r', ...files], { maxBuffer: 1 << 20 });
  const ms = stamp() - t0;
  const sums = stdout
    .trim()
    .split('\n')
    .map((l) => `sha256:${l.split(/\s+/)[0]}`);
  const want = [img.configDigest, ...img.layers.map((l) => l.digest)];
  if (sums.join() !== want.join()) throw new Error('curl floor: a blob did not match its digest');
  rmSync(dir, { recursive: true, force: true });
  return ms;
}

/** The unpack floor: GNU tar -xzf of each layer blob into a directory of its own, in order. */
async function tarFloor(blobs: string[], dir: string): Promise<number> {
  const t0 = stamp();
  for (const [i, b] of blobs.entries()) {
    mkdirSync(join(dir, String(i)), { recursive: true });
    await execFileP('tar', ['-xzf', b, '-C', join(dir, String(i))]);
  }
  const ms = stamp() - t0;
  rmSync(dir, { recursive: true, force: true });
  return ms;
}

/** OciImages.pull (download + verify into the content store), then every layer unpacked. */
async function agniPullUnpack(
  home: string,
  ref: string,
  img: BenchImage,
  settle: () => Promise<void>,
): Promise<{ pull: number; unpack: number; blobs: string[] }> {
  const store = await openSqliteStore(join(home, 'agni.db'));
  try {
    const oci = new OciImages(home, new SqlOciImageRepository(store.db));
    let t0 = stamp();
    const rec = await oci.pull(ref);
    const pull = stamp() - t0;
    if (rec.manifestDigest !== img.manifestDigest)
      throw new Error(`pulled ${rec.manifestDigest}, pushed ${img.manifestDigest}`);
    await settle();
    t0 = stamp();
    // What the agent does for an oci: image: each layer through ensureLayer, bottom first.
    const root = await new ImageRootfsResolver(home, oci.content).resolve(rec.manifestDigest);
    const unpack = stamp() - t0;
    if (root.layers.length !== img.layers.length) throw new Error('not every layer was unpacked');
    return { pull, unpack, blobs: img.layers.map((l) => oci.content.path(l.digest)) };
  } finally {
    await store.close();
  }
}

/** A fresh embedded server: deploy a function on the image (pull + unpack), then invoke it once. */
async function firstInvocation(
  home: string,
  ref: string,
  fnDir: string,
  settle: () => Promise<void>,
): Promise<{ deploy: number; invoke: number }> {
  writeFileSync(
    join(fnDir, 'agni.yaml'),
    `name: pullbench\nruntime: ${ref}\ncommand: ["/bin/echo", "ok"]\nlimits:\n  memory: 32Mi\n  timeout: 10s\n`,
  );
  const body = await tarOf(fnDir);
  const server = await startEmbedded({
    home,
    host: '127.0.0.1',
    port: 0,
    backend: 'runc',
    slots: 2,
    maxPayloadBytes: 1024 * 1024,
    logger: pino({ level: 'error' }),
  });
  try {
    await settle();
    const t0 = stamp();
    const dep = await fetch(`${server.url}/v1/functions`, {
      method: 'POST',
      headers: { 'content-type': 'application/gzip' },
      body: new Uint8Array(body),
    });
    if (dep.status !== 201) throw new Error(`deploy failed (${dep.status}): ${await dep.text()}`);
    const t1 = stamp();
    const inv = await fetch(`${server.url}/v1/functions/pullbench/invoke`, { method: 'POST', body: '' });
    const out = await inv.text();
    const t2 = stamp();
    if (inv.status !== 200 || out !== 'ok\n') throw new Error(`invoke failed (${inv.status}): ${out}`);
    return { deploy: t1 - t0, invoke: t2 - t1 };
  } finally {
    await server.close();
  }
}

async function buildImage(
  client: RegistryClient,
  scratch: string,
  busybox: BenchLayer,
  mib: number,
): Promise<{ img: BenchImage; pushMs: number; buildMs: number }> {
  const sizes = planLayerSizes(mib * MiB, busybox.size, DATA_LAYERS);
  const t0 = stamp();
  const layers: BenchLayer[] = [busybox];
  // Two at a time: gzip of random data is CPU-bound, and this machine has two cores.
  for (let i = 0; i < sizes.length; i += 2) {
    const batch = sizes
      .slice(i, i + 2)
      .map((s, j) => writeRandomLayer(join(scratch, `layer-${mib}-${i + j}.tar.gz`), `l${i + j}`, s));
    layers.push(...(await Promise.all(batch)));
  }
  const buildMs = stamp() - t0;
  const t1 = stamp();
  const img = await pushBenchImage(
    client,
    `bench/img-${mib}m`,
    '1',
    layers,
    hostPlatform(),
    ['/bin/true'],
    scratch,
  );
  const pushMs = stamp() - t1;
  for (const l of layers.slice(1)) rmSync(l.file, { force: true });
  return { img, pushMs, buildMs };
}

async function main(): Promise<void> {
  const scratch = mkdtempSync(join(tmpdir(), 'agni-pullbench-'));
  const loadBefore = loadavg();
  const free = freeBytes(scratch);
  log(`pull bench: ${formatBytes(free)} free under ${tmpdir()}`);
  const reg = await startRegistry();
  const results: (PullSizeResult & { samples: Partial<Record<PullMeasure, number[]>> })[] = [];
  const extra: Record<string, { buildMs: number; pushMs: number; layerBytes: number[] }> = {};
  try {
    const client = new RegistryClient({ host: reg.host });
    const busybox = await writeBusyboxLayer(join(scratch, 'busybox.tar.gz'), scratch);
    let registryBytes = 0;
    for (const mib of sizesMiB) {
      // Peak per size: the layer files, the registry's copy, a content store plus unpacked layers,
      // and the tar floor's copy; 6x with a GiB to spare.
      const need = 6 * mib * MiB + 1024 * MiB;
      if (freeBytes(scratch) < need) {
        log(
          `skipping ${label(mib)}: needs ${formatBytes(need)} free, ${formatBytes(freeBytes(scratch))} left`,
        );
        continue;
      }
      log(`${label(mib)}: building and pushing 9 layers...`);
      const { img, pushMs, buildMs } = await buildImage(client, scratch, busybox, mib);
      registryBytes += img.totalBytes;
      extra[label(mib)] = { buildMs, pushMs, layerBytes: img.layers.map((l) => l.size) };
      log(`  ${formatBytes(img.totalBytes)} built in ${formatMs(buildMs)}, pushed in ${formatMs(pushMs)}`);
      const ref = `${reg.host}/${img.repo}:${img.tag}`;
      const urls = blobUrls(reg.host, img);
      const samples: Partial<Record<PullMeasure, number[]>> = {};
      const add = (k: PullMeasure, v: number) => {
        samples[k] ??= [];
        samples[k].push(v);
      };
      const runs = runsFor(mib);
      for (let r = 1; r <= runs; r++) {
        // Each timed step starts with no dirty pages left by the one before (writeback would land
        // on whichever step ran next); the registry's blobs stay in the page cache throughout.
        await settle();
        const curl = await curlFloor(urls);
        add('curl', curl);
        await settle();
        add('fetch', await fetchFloor(urls));
        await settle();
        add('curlSha', await curlShaFloor(urls, img, join(scratch, 'curl-files')));
        const homeA = mkdtempSync(join(scratch, 'home-'));
        try {
          await settle();
          const a = await agniPullUnpack(homeA, ref, img, settle);
          add('pull', a.pull);
          add('unpack', a.unpack);
          add('pullUnpack', a.pull + a.unpack);
          await settle();
          const tar = await tarFloor(a.blobs, join(scratch, 'tar-floor'));
          add('tar', tar);
          add('floor', curl + tar);
          log(
            `  run ${r}/${runs}: pull ${formatMs(a.pull)} (curl ${formatMs(curl)}), unpack ${formatMs(a.unpack)} (tar ${formatMs(tar)})`,
          );
        } finally {
          await removeHome(homeA);
        }
        if (!flags['no-invoke']) {
          const homeB = mkdtempSync(join(scratch, 'home-'));
          const fnDir = mkdtempSync(join(scratch, 'fn-'));
          try {
            const f = await firstInvocation(homeB, ref, fnDir, settle);
            add('deploy', f.deploy);
            add('invoke', f.invoke);
            add('firstInvocation', f.deploy + f.invoke);
            log(`           deploy ${formatMs(f.deploy)}, first invoke ${formatMs(f.invoke)}`);
          } finally {
            await removeHome(homeB);
            rmSync(fnDir, { recursive: true, force: true });
          }
        }
      }
      results.push({
        label: label(mib),
        totalBytes: img.totalBytes,
        layers: img.layers.length,
        runs,
        samples,
        summaries: Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summarize(v)])),
      });
    }
    log(`registry held ${formatBytes(registryBytes)}`);
  } finally {
    await reg.close();
    rmSync(scratch, { recursive: true, force: true });
  }

  const out = process.stdout;
  out.write(`\n${pullTable(results)}\n`);
  const result = {
    benchmark: 'pull',
    date: new Date().toISOString(),
    machine: {
      cpus: availableParallelism(),
      cpu: cpus()[0]?.model,
      node: process.version,
      registry: (await execFileP('/usr/bin/docker-registry', ['--version'])).stdout.trim(),
      loadavg: { before: loadBefore, after: loadavg() },
    },
    images: {
      layers: 1 + DATA_LAYERS,
      base: 'busybox-static rootfs (one layer)',
      data: 'random bytes in files of up to 16 MiB, 8 layers of decreasing size',
      compression: 'gzip level 1 (random data: compressed size ≈ raw size)',
    },
    floors: {
      curl: `curl --parallel --parallel-max ${FETCH_PARALLEL} -o /dev/null, every blob`,
      fetch: `Node fetch, ${FETCH_PARALLEL} at a time, bodies read and dropped`,
      curlSha: 'the same to files, then sync FILES and openssl dgst -sha256 of them all',
      tar: 'GNU tar -xzf of each layer blob into its own directory, in order',
    },
    results: results.map((r) => ({ ...r, ratios: pullRatios(r), build: extra[r.label] })),
  };
  const dir = resolve('bench/results');
  mkdirSync(dir, { recursive: true });
  const file = join(dir, `pull-${result.date.replace(/[:.]/g, '-')}.json`);
  writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
  writeFileSync(join(dir, 'pull-latest.json'), `${JSON.stringify(result, null, 2)}\n`);
  out.write(`\nJSON: ${file}\n`);
}

await main();
