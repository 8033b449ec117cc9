/**
 * `agni bench cold`: the ec2-boot-bench method applied to a function. For each mode, N+1
 * invocations over HTTP (the first discarded), median and p90 of the total and of each phase;
 * the baselines run in the same process, on the same root filesystem, right after.
 * It runs on this machine with scratch Agni instances, so modes never disturb a real server.
 */
import { cp, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { extract } from 'tar';
import { parse, stringify } from 'yaml';
import { AgniError } from '../core/errors.js';
import { type Manifest, parseManifest } from '../core/manifest.js';
import { PHASES, type Phase, stamp } from '../core/phases.js';
import { makeBusyboxRootfs } from '../image/busybox-rootfs.js';
import type { InvocationRecord } from '../store/store.js';
import { makeBaselines } from './baselines.js';
import { type BenchBackend, BenchServers, upload } from './bench-servers.js';
import { type BaselineName, COLD_MODES, type ColdMode } from './cold-modes.js';
import type { ColdRow } from './cold-report.js';
import { type Summary, summarize } from './stats.js';

export { COLD_MODES, type ColdMode };

export interface ColdOptions {
  dir: string;
  runs: number;
  modes: ColdMode[];
  baselines: BaselineName[];
  /** root filesystem (directory or tarball) for an image runtime; busybox is built when omitted */
  rootfs?: string;
  /** pause between prewarmed runs so the pool refills, as between sporadic calls */
  gapMs: number;
  /** a lifecycle: warm function directory for the warm row, when `dir` is not warm itself */
  warmDir?: string;
  /** a protocol: lambda function directory for the lambda row, when `dir` is not one itself */
  lambdaDir?: string;
  onProgress?(label: string, done: number, total: number): void;
}

export interface ColdResult {
  function: string;
  runs: number;
  rows: ColdRow[];
}

const MODE_LABEL: Record<ColdMode, string> = {
  process: 'agni process (no isolation)',
  runc: 'agni runc (fresh sandbox)',
  prewarmed: 'agni runc prewarmed',
  warm: 'agni warm worker',
  lambda: 'agni lambda (Runtime API, warm)',
};

function variant(
  m: Record<string, unknown>,
  mode: ColdMode,
  manifest: Manifest,
): Record<string, unknown> | string {
  const out: Record<string, unknown> = { ...m, name: `${manifest.name}-${mode}` };
  if (mode === 'lambda') {
    if (manifest.protocol !== 'lambda')
      return 'the function is not `protocol: lambda`; pass one with --lambda DIR (e.g. examples/noop-lambda)';
    return out;
  }
  if (mode === 'warm') {
    if (manifest.lifecycle !== 'warm' || manifest.protocol === 'lambda')
      return 'the function is not `lifecycle: warm`; pass a warm one with --warm DIR (e.g. examples/noop-warm)';
    return out;
  }
  out.lifecycle = 'cold';
  out.pool = mode === 'prewarmed' ? { min: 1, max: 2, idle: '10m' } : { min: 0, max: 0 };
  // The process backend gives no function a root of its own, so it runs no image: its row runs the
  // same command on the host runtime (the overhead measured is the backend's, not the image's).
  if (mode === 'process') out.runtime = 'host';
  return out;
}

/** The warm and lambda rows run their own function when `dir` is not of that kind. */
function otherDir(mode: ColdMode, m: Manifest, o: ColdOptions): string | undefined {
  if (mode === 'warm' && (m.lifecycle !== 'warm' || m.protocol === 'lambda')) return o.warmDir;
  if (mode === 'lambda' && m.protocol !== 'lambda') return o.lambdaDir;
  return undefined;
}

function phaseSummaries(records: InvocationRecord[]): Partial<Record<Phase, Summary>> {
  const deltas: Partial<Record<Phase, number[]>> = {};
  for (const r of records) {
    let prev: number | undefined;
    for (const p of PHASES) {
      const t = r.phases[p];
      if (t === undefined) continue;
      if (prev !== undefined) {
        deltas[p] ??= [];
        deltas[p].push(t - prev);
      }
      prev = t;
    }
  }
  return Object.fromEntries(Object.entries(deltas).map(([p, v]) => [p, summarize(v!)]));
}

export async function resolveRootfs(
  o: { rootfs?: string },
  m: Manifest,
  scratch: string,
): Promise<string | undefined> {
  if (m.runtime === 'host') return undefined;
  if (!o.rootfs) {
    if (m.runtime !== 'busybox') {
      throw new AgniError(
        'bad_request',
        `runtime ${m.runtime}: pass its root filesystem with --rootfs DIR|TAR`,
        {
          hint: 'the benchmark runs scratch instances and needs the image to import into them',
        },
      );
    }
    return makeBusyboxRootfs(join(scratch, 'busybox-rootfs'));
  }
  const st = await stat(o.rootfs).catch(() => undefined);
  if (!st) throw new AgniError('bad_request', `--rootfs ${o.rootfs}: no such file or directory`);
  if (st.isDirectory()) return o.rootfs;
  const dir = join(scratch, 'rootfs');
  await cp(o.rootfs, `${dir}.tar`);
  await (await import('node:fs/promises')).mkdir(dir, { recursive: true });
  await extract({ file: `${dir}.tar`, cwd: dir, preserveOwner: true });
  return dir;
}

export async function runCold(o: ColdOptions): Promise<ColdResult> {
  const text = await readFile(join(o.dir, 'agni.yaml'), 'utf8').catch(() => {
    throw new AgniError('manifest_invalid', `${join(o.dir, 'agni.yaml')}: not found`, {
      hint: 'pass a function directory',
    });
  });
  const manifest = parseManifest(text, join(o.dir, 'agni.yaml'));
  const scratch = await mkdtemp(join(tmpdir(), 'agni-bench-cold-'));
  let servers: BenchServers | undefined;
  const rows: ColdRow[] = [];
  try {
    const rootfs = await resolveRootfs(o, manifest, scratch);
    const bench = new BenchServers({
      scratch,
      slots: 2,
      maxPayloadBytes: 16 * 1024 * 1024,
      ...(rootfs ? { image: { name: manifest.runtime, rootfs } } : {}),
    });
    servers = bench;
    const serverFor = (backend: BenchBackend) => bench.get(backend);

    for (const mode of o.modes) {
      const other = otherDir(mode, manifest, o);
      const srcDir = other ?? o.dir;
      const srcText = other ? await readFile(join(srcDir, 'agni.yaml'), 'utf8') : text;
      const srcManifest = other ? parseManifest(srcText, join(srcDir, 'agni.yaml')) : manifest;
      const v = variant(parse(srcText) as Record<string, unknown>, mode, srcManifest);
      if (typeof v === 'string') {
        rows.push({ kind: 'mode', name: mode, label: MODE_LABEL[mode], unavailable: v });
        continue;
      }
      const server = await serverFor(mode === 'process' ? 'process' : 'runc');
      const dir = join(scratch, `fn-${mode}`);
      await cp(srcDir, dir, { recursive: true });
      await writeFile(join(dir, 'agni.yaml'), stringify(v));
      await upload(server, '/v1/functions', dir);
      const name = String(v.name);
      const totals: number[] = [];
      const ids: string[] = [];
      for (let i = 0; i <= o.runs; i++) {
        if (mode === 'prewarmed' || i === 0) await new Promise((r) => setTimeout(r, o.gapMs));
        const t0 = stamp();
        const res = await fetch(`${server.url}/v1/functions/${name}/invoke`, { method: 'POST', body: '' });
        await res.arrayBuffer();
        const ms = stamp() - t0;
        if (res.status !== 200)
          throw new AgniError('function_failed', `bench ${mode}: ${basename(o.dir)} answered ${res.status}`);
        if (i > 0) {
          totals.push(ms);
          ids.push(res.headers.get('agni-invocation-id')!);
        }
        o.onProgress?.(MODE_LABEL[mode], i, o.runs);
      }
      const records = await Promise.all(
        ids.map(
          async (id) =>
            (await (await fetch(`${server.url}/v1/invocations/${id}`)).json()) as InvocationRecord,
        ),
      );
      rows.push({
        kind: 'mode',
        name: mode,
        label: MODE_LABEL[mode],
        total: summarize(totals),
        phases: phaseSummaries(records),
      });
    }
    await bench.close();

    const baselines = await makeBaselines(o.baselines, {
      rootfs,
      args: manifest.command,
      scratch,
      limits: manifest.limits,
    });
    for (const b of baselines) {
      if (b.unavailable) {
        rows.push({ kind: 'baseline', name: b.name, label: b.label, unavailable: b.unavailable });
        continue;
      }
      const samples: number[] = [];
      for (let i = 0; i <= o.runs; i++) {
        const ms = await b.once();
        if (i > 0) samples.push(ms);
        o.onProgress?.(b.label, i, o.runs);
      }
      rows.push({ kind: 'baseline', name: b.name, label: b.label, total: summarize(samples) });
    }
    return { function: manifest.name, runs: o.runs, rows };
  } finally {
    await servers?.close(true);
    await rm(scratch, { recursive: true, force: true });
  }
}
