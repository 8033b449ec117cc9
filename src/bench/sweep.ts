/**
 * `agni bench sweep`: a function's replicates at each concurrency level, as invocations of scratch
 * Agni instances in each mode and as the same command on the bare host (and in Docker), in the
 * interleaved order of sweep-plan.ts. Each batch's rows are appended to the CSV as soon as they are
 * measured, so a killed sweep loses at most the batch in flight and `--resume` continues it.
 */
import { appendFile, cp, mkdtemp, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { AgniError } from '../core/errors.js';
import { type Manifest, parseManifest } from '../core/manifest.js';
import { PHASES, type PhaseTimes, stamp } from '../core/phases.js';
import type { VolumeDecl } from '../core/volumes.js';
import type { Embedded } from '../main/embedded.js';
import { type BenchBackend, BenchServers, upload } from './bench-servers.js';
import { resolveRootfs } from './cold.js';
import { type BaselineRunner, dockerRunner, hostRunner, type RunOutcome } from './sweep-baselines.js';
import {
  cellKey,
  csvHeader,
  csvRow,
  metricColumns,
  parseSweepCsv,
  type SweepRow,
  sweepCsv,
} from './sweep-csv.js';
import { parseMetrics } from './sweep-metrics.js';
import type { SweepBaseline, SweepMode } from './sweep-modes.js';
import { plannedReplicates, planSweep } from './sweep-plan.js';
import { type SweepSummary, summarizeSweep } from './sweep-summary.js';
import { sweepVariant } from './sweep-variant.js';

export interface SweepOptions {
  dir: string;
  levels: number[];
  n: number;
  modes: SweepMode[];
  baselines: SweepBaseline[];
  payload: Buffer;
  csvPath: string;
  resume: boolean;
  volumes: VolumeDecl[];
  /** root filesystem (dir or tar) of the function's image runtime; busybox is built when omitted */
  rootfs?: string;
  /** how long a prewarmed batch waits for its pool to refill before it runs anyway */
  refillMs?: number;
  onProgress?(done: number, total: number, label: string): void;
  /** stops the sweep after the batch in flight (Ctrl-C): its rows are kept, the scratch cleaned */
  signal?: AbortSignal;
}

export interface SweepResult {
  summary: SweepSummary;
  rows: SweepRow[];
  /** replicates found in the CSV and not run again */
  resumed: number;
  /** stopped by the signal before the plan's end */
  interrupted: boolean;
}

/** Agni's phases of one invocation as CSV columns: each phase's time since the previous one reached. */
export function phaseColumns(t: PhaseTimes): Record<string, number> {
  const out: Record<string, number> = {};
  let prev: number | undefined;
  for (const p of PHASES) {
    const v = t[p];
    if (v === undefined) continue;
    if (prev !== undefined) out[`phase_${p}_ms`] = v - prev;
    prev = v;
  }
  if (t.received !== undefined && t.finished !== undefined) out.agni_ms = t.finished - t.received;
  return out;
}

async function readManifest(dir: string): Promise<{ text: string; manifest: Manifest }> {
  const file = join(dir, 'agni.yaml');
  const text = await readFile(file, 'utf8').catch(() => {
    throw new AgniError('manifest_invalid', `${file}: not found`, { hint: 'pass a function directory' });
  });
  return { text, manifest: parseManifest(text, file) };
}

/** The CSV's rows so far (`--resume`), rewritten without a torn last line. */
async function existingRows(o: SweepOptions): Promise<{ rows: SweepRow[]; metricCols: string[] }> {
  if (!o.resume) return { rows: [], metricCols: [] };
  const text = await readFile(o.csvPath, 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return undefined;
    throw new AgniError('bad_request', `--csv ${o.csvPath}: ${e.message}`);
  });
  if (text === undefined) return { rows: [], metricCols: [] };
  const parsed = parseSweepCsv(text);
  if (typeof parsed === 'string')
    throw new AgniError('bad_request', `--resume: ${o.csvPath}: ${parsed}`, {
      hint: 'resume only a CSV that `agni bench sweep --csv` wrote, or start again without --resume',
    });
  const seen = new Set<string>();
  const rows = parsed.rows.filter((r) => {
    const k = cellKey(r.mode, r.concurrency, r.replicate);
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
  if (parsed.torn || rows.length !== parsed.rows.length)
    await writeFile(o.csvPath, sweepCsv(rows, parsed.metricCols));
  return { rows, metricCols: parsed.metricCols };
}

interface Target {
  server: Embedded;
  name: string;
}

async function invokeOnce(
  t: Target,
  payload: Buffer,
): Promise<RunOutcome & { phases: Record<string, number>; status: string }> {
  const t0 = stamp();
  const res = await fetch(`${t.server.url}/v1/functions/${t.name}/invoke`, {
    method: 'POST',
    body: new Uint8Array(payload),
  });
  const stdout = await res.text();
  const wallMs = stamp() - t0;
  const id = res.headers.get('agni-invocation-id');
  if (!id) return { wallMs, status: `http_${res.status}`, stdout: '', phases: {} };
  const rec = (await (await fetch(`${t.server.url}/v1/invocations/${id}`)).json()) as {
    status?: string;
    phases?: PhaseTimes;
  };
  const status =
    rec.status === 'succeeded' || (res.status === 200 && rec.status === undefined)
      ? 'ok'
      : (rec.status ?? `http_${res.status}`);
  return { wallMs, status, stdout: res.status === 200 ? stdout : '', phases: phaseColumns(rec.phases ?? {}) };
}

export async function runSweep(o: SweepOptions): Promise<SweepResult> {
  const { text, manifest } = await readManifest(o.dir);
  const maxLevel = Math.max(...o.levels);
  const scratch = await mkdtemp(join(tmpdir(), 'agni-bench-sweep-'));
  let servers: BenchServers | undefined;
  const notes: string[] = [];
  try {
    const prior = await existingRows(o);
    let metricCols = prior.metricCols;
    const rows = [...prior.rows];
    const fnCopy = join(scratch, 'fn');
    await cp(o.dir, fnCopy, { recursive: true });

    // What runs each mode; a mode that cannot run here becomes a note, not an error.
    const runners = new Map<
      string,
      (payload: Buffer) => Promise<RunOutcome & { phases: Record<string, number>; status: string }>
    >();
    const rootfs = await resolveRootfs(o, manifest, scratch);
    for (const b of o.baselines) {
      const r: BaselineRunner | string =
        b === 'host'
          ? hostRunner({ manifest, fnDir: fnCopy, volumes: o.volumes, rootfs })
          : await dockerRunner({ manifest, fnDir: fnCopy, volumes: o.volumes, rootfs });
      if (typeof r === 'string') notes.push(r);
      else runners.set(b, async (p) => ({ ...(await r.once(p)), phases: {} }));
    }
    const bench = new BenchServers({
      scratch,
      // every concurrent call gets a slot, and the prewarmed pool room for a full batch
      slots: maxLevel + 2,
      maxPayloadBytes: 64 * 1024 * 1024,
      volumes: o.volumes,
      ...(rootfs ? { image: { name: manifest.runtime, rootfs } } : {}),
    });
    servers = bench;
    const serverFor = (backend: BenchBackend) => bench.get(backend);
    const raw = parse(text) as Record<string, unknown>;
    const prewarmed = new Map<string, Embedded>();
    for (const mode of o.modes) {
      const v = sweepVariant(raw, mode, manifest, maxLevel);
      if (typeof v === 'string') {
        notes.push(v);
        continue;
      }
      const server = await serverFor(mode === 'process' ? 'process' : 'runc');
      const dir = join(scratch, `fn-${mode}`);
      await cp(o.dir, dir, { recursive: true });
      await writeFile(join(dir, 'agni.yaml'), stringify(v));
      await upload(server, '/v1/functions', dir);
      const target = { server, name: String(v.name) };
      if (mode === 'prewarmed') prewarmed.set(mode, server);
      runners.set(mode, (p) => invokeOnce(target, p));
    }
    const modes = [...o.baselines, ...o.modes].filter((m) => runners.has(m));
    if (modes.length === 0) throw new AgniError('bad_request', `no mode can run here: ${notes.join('; ')}`);

    const done = new Set(rows.map((r) => cellKey(r.mode, r.concurrency, r.replicate)));
    const plan = planSweep(o.levels, modes, o.n, done);
    const total = plannedReplicates(plan);
    if (!o.resume || prior.rows.length === 0) await writeFile(o.csvPath, csvHeader(metricCols));
    let count = 0;
    o.onProgress?.(0, total, '');
    let interrupted = false;
    for (const b of plan) {
      if (o.signal?.aborted) {
        interrupted = true;
        break;
      }
      const run = runners.get(b.mode)!;
      if (b.mode === 'prewarmed')
        await refilled(prewarmed.get(b.mode)!, b.replicates.length, o.refillMs ?? 5000);
      const outs = await Promise.all(b.replicates.map(() => run(o.payload)));
      const batch: SweepRow[] = outs.map((r, i) => ({
        mode: b.mode,
        concurrency: b.concurrency,
        replicate: b.replicates[i]!,
        wall_ms: r.wallMs,
        status: r.status,
        metrics: parseMetrics(r.stdout),
        phases: r.phases,
      }));
      rows.push(...batch);
      const cols = metricColumns(batch, metricCols);
      if (cols.length !== metricCols.length) {
        // a metric not seen before: the whole file again with the wider header, atomically
        metricCols = cols;
        await writeFile(`${o.csvPath}.tmp`, sweepCsv(rows, metricCols));
        await rename(`${o.csvPath}.tmp`, o.csvPath);
      } else await appendFile(o.csvPath, batch.map((r) => csvRow(r, metricCols)).join(''));
      count += batch.length;
      o.onProgress?.(count, total, `${b.mode} @${b.concurrency}`);
    }
    const summary = summarizeSweep(rows, {
      function: manifest.name,
      n: o.n,
      levels: o.levels,
      modes,
      metricCols,
      notes,
    });
    return { summary, rows, resumed: prior.rows.length, interrupted };
  } finally {
    await servers?.close(true);
    await rm(scratch, { recursive: true, force: true });
  }
}

/** Waits (bounded) until the prewarmed pool holds `want` sandboxes again, as between sporadic calls. */
async function refilled(server: Embedded, want: number, maxMs: number): Promise<void> {
  const end = Date.now() + maxMs;
  while (server.prewarm && server.prewarm.stats().current < want && Date.now() < end)
    await new Promise((r) => setTimeout(r, 20));
}
