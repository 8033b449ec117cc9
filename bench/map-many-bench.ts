/**
 * `npm run bench:map-many`: a fan-out job of many tiny inputs (100,000 by default) on warm workers,
 * created through the jobs API of a real `agni up` (runc) in its own process, twice: by reference
 * (one tiny file each on a server volume, `POST /v1/jobs/ID/refs`) and inline (one line each,
 * `Agni-Input-Split: lines`). Reports items/s (the job's own start → finish), the server's peak
 * RSS while each job ran (sampled VmRSS) and over its whole life (VmHWM), and a sample of items'
 * received → placed (queue pickup). Every item's output is checked by count (the job must succeed).
 *
 * BENCH_ITEMS (100000), BENCH_CONCURRENCY (4), BENCH_VARIANTS (ref,inline), BENCH_NODE_ARGS (for the
 * server, e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof`). Data: bench/.data.
 */
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { summarize } from '../src/bench/stats.js';
import { formatMs } from '../src/core/units.js';
import type { InvocationRecord } from '../src/store/store.js';
import type { Job, JobItem } from '../src/triggers/jobs-types.js';

const ITEMS = Number(process.env.BENCH_ITEMS ?? 100_000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4);
const VARIANTS = (process.env.BENCH_VARIANTS ?? 'ref,inline').split(',');
const CLI = resolve('dist/src/cli/main.js');
/** the floor: items/s on 2 cores */
const FLOOR = 1000;

/** N tiny files (`i\n`), made once and renamed into place */
function ensureFiles(): string {
  const dir = resolve(`bench/.data/tiny-${ITEMS}`);
  if (existsSync(dir)) return dir;
  const partial = `${dir}.partial`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  for (let i = 0; i < ITEMS; i++) writeFileSync(join(partial, `${String(i).padStart(6, '0')}.txt`), `${i}\n`);
  renameSync(partial, dir);
  return dir;
}

function kib(status: string, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status);
  return m ? Number(m[1]) : Number.NaN;
}

function memOf(pid: number): { rss: number; hwm: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  return { rss: kib(s, 'VmRSS'), hwm: kib(s, 'VmHWM') };
}

/** CPU time (ms) the process used so far, user + system (/proc/PID/stat, clock ticks of 10 ms) */
function cpuMsOf(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const rest = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(rest[11]) + Number(rest[12])) * 10;
}

function startServer(home: string, data: string): Promise<{ p: ChildProcess; url: string }> {
  const p = spawn(
    process.execPath,
    [
      ...(process.env.BENCH_NODE_ARGS?.split(' ').filter(Boolean) ?? []),
      CLI,
      'up',
      '--port',
      '0',
      '--home',
      home,
      '--backend',
      'runc',
      '--volume',
      `tiny=${data}:ro`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let out = '';
  return new Promise((res, rej) => {
    const t = setTimeout(() => rej(new Error(`agni up did not start: ${out}`)), 30_000);
    const on = (d: Buffer) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m && /agni up: backend /.test(out)) {
        clearTimeout(t);
        res({ p, url: m[1]! });
      }
    };
    p.stdout!.on('data', on);
    p.stderr!.on('data', on);
    p.once('exit', (code) => rej(new Error(`agni up exited ${code}: ${out}`)));
  });
}

async function main(): Promise<void> {
  const data = ensureFiles();
  const home = mkdtempSync(join(tmpdir(), 'agni-many-bench-'));
  const fn = join(home, 'fn-echo');
  mkdirSync(fn);
  // A warm Python worker: started once per pool slot, then each item is one frame over a pipe.
  writeFileSync(
    join(fn, 'agni.yaml'),
    'name: echo-warm\nruntime: host\ncommand: ["python3", "/fn/main.py"]\nlifecycle: warm\npool:\n  max: 2\n  idle: 300s\nlimits:\n  memory: 64Mi\n  timeout: 10s\nvolumes: [{name: tiny, path: /data}]\n',
  );
  writeFileSync(
    join(fn, 'main.py'),
    [
      'import os, sys',
      'sys.path.insert(0, os.path.join(os.environ.get("AGNI_RUNTIMES", "/agni/runtimes"), "python"))',
      'import agni_warm',
      'def handle(payload):',
      '    path = os.environ.get("AGNI_INPUT")',
      '    if path:',
      '        with open(path, "rb") as f:',
      '            return f.read()',
      '    return payload',
      'agni_warm.serve(handle)',
      '',
    ].join('\n'),
  );
  const server = await startServer(home, data);
  const pid = server.p.pid!;
  const api = async <T>(method: string, path: string, body?: Buffer | object, headers = {}): Promise<T> => {
    const isBuf = Buffer.isBuffer(body);
    const r = await fetch(server.url + path, {
      method,
      ...(body === undefined
        ? {}
        : {
            body: isBuf ? new Uint8Array(body) : JSON.stringify(body),
            headers: { 'content-type': isBuf ? 'application/octet-stream' : 'application/json', ...headers },
          }),
    });
    const text = await r.text();
    if (r.status >= 300) throw new Error(`${method} ${path}: ${r.status} ${text}`);
    return JSON.parse(text) as T;
  };
  const results: Record<string, unknown> = {};
  try {
    execFileSync(process.execPath, [CLI, 'deploy', fn], { env: { ...process.env, AGNI_URL: server.url } });
    // Warm the pool with one short job, so the figures are the steady state.
    const warm = await api<Job>('POST', '/v1/jobs', { function: 'echo-warm', concurrency: CONCURRENCY });
    await api('POST', `/v1/jobs/${warm.id}/inputs`, Buffer.from('a\nb\nc\nd\n'), {
      'agni-input-split': 'lines',
    });
    await api('POST', `/v1/jobs/${warm.id}/start`);
    await waitDone(api, warm.id, () => {});
    process.stderr.write(
      `bench:map-many: ${ITEMS} tiny inputs, concurrency ${CONCURRENCY}, warm Python workers, runc, ${availableParallelism()} cores\n`,
    );
    const lines = Buffer.from(Array.from({ length: ITEMS }, (_, i) => `${i}\n`).join(''));
    for (const variant of VARIANTS) {
      const before = memOf(pid);
      const cpu0 = cpuMsOf(pid);
      const t0 = performance.now();
      const job = await api<Job>('POST', '/v1/jobs', { function: 'echo-warm', concurrency: CONCURRENCY });
      if (variant === 'ref') await api('POST', `/v1/jobs/${job.id}/refs`, { ref: 'tiny:/*.txt' });
      else await api('POST', `/v1/jobs/${job.id}/inputs`, lines, { 'agni-input-split': 'lines' });
      const created = performance.now() - t0;
      await api('POST', `/v1/jobs/${job.id}/start`);
      let peak = before.rss;
      let ticks = 0;
      const end = await waitDone(api, job.id, (j) => {
        peak = Math.max(peak, memOf(pid).rss);
        // Every 10 s a line, so a long run shows where it is.
        if (j && ++ticks % 50 === 0)
          process.stderr.write(
            `  ${variant}: ${j.counts.succeeded + j.counts.failed} of ${ITEMS} settled, ${j.rate?.toFixed(0) ?? '-'} items/s, RSS peak ${(peak / 1024).toFixed(0)} MiB\n`,
          );
      });
      const after = memOf(pid);
      const cpuPerItem = (cpuMsOf(pid) - cpu0) / ITEMS;
      if (end.status !== 'succeeded' || end.counts.succeeded !== ITEMS)
        throw new Error(
          `${variant}: job ${job.id} ended ${end.status}: ${JSON.stringify(end.counts)} ${end.error}`,
        );
      const ms = end.finishedAt! - end.startedAt!;
      // Outputs: a sample is read back and must be the item's own input.
      for (const index of [0, Math.floor(ITEMS / 2), ITEMS - 1]) {
        const r = await fetch(`${server.url}/v1/jobs/${job.id}/items/${index}/output`);
        const got = await r.text();
        if (got !== `${index}\n`) throw new Error(`${variant}: item ${index} output ${JSON.stringify(got)}`);
      }
      // Queue pickup, from a sample of items' own phases.
      const { items } = await api<{ items: JobItem[] }>(
        'GET',
        `/v1/jobs/${job.id}/items?from=${Math.floor(ITEMS / 2)}&limit=200`,
      );
      const pickup: number[] = [];
      const total: number[] = [];
      for (const it of items) {
        const { phases: p } = await api<InvocationRecord>('GET', `/v1/invocations/${it.invocationId}`);
        if (p.placed !== undefined && p.received !== undefined) pickup.push(p.placed - p.received);
        if (p.finished !== undefined && p.received !== undefined) total.push(p.finished - p.received);
      }
      const row = {
        items: ITEMS,
        concurrency: CONCURRENCY,
        inputs_added_ms: created,
        run_ms: ms,
        items_per_s: ITEMS / (ms / 1000),
        rss_before_kib: before.rss,
        rss_peak_kib: peak,
        rss_after_kib: after.rss,
        hwm_kib: after.hwm,
        server_cpu_ms_per_item: cpuPerItem,
        pickup_ms: summarize(pickup),
        received_to_finished_ms: summarize(total),
      };
      results[variant] = row;
      process.stdout.write(
        `${variant.padEnd(7)} ${ITEMS} items in ${formatMs(ms)}: ${Math.round(row.items_per_s).toLocaleString('en-US')} items/s ` +
          `(floor ${FLOOR}: ${row.items_per_s >= FLOOR ? 'met' : 'missed'}); inputs added in ${formatMs(created)}; ` +
          `server RSS ${(before.rss / 1024).toFixed(0)} MiB before, peak ${(peak / 1024).toFixed(0)} MiB, VmHWM ${(after.hwm / 1024).toFixed(0)} MiB; ` +
          `server CPU ${cpuPerItem.toFixed(2)} ms/item; received → placed median ${formatMs(row.pickup_ms.median)} p90 ${formatMs(row.pickup_ms.p90)}, received → finished median ${formatMs(row.received_to_finished_ms.median)}\n`,
      );
    }
    const result = {
      benchmark: 'map-many',
      date: new Date().toISOString(),
      machine: { cpus: availableParallelism(), node: process.version },
      results,
    };
    const dir = resolve('bench/results');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `map-many-${result.date.replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    process.stdout.write(`JSON: ${file}\n`);
  } finally {
    server.p.kill('SIGTERM');
    await new Promise((r) => server.p.once('exit', r));
    rmSync(home, { recursive: true, force: true });
  }
}

async function waitDone(
  api: <T>(method: string, path: string) => Promise<T>,
  id: string,
  tick: (job?: Job) => void,
): Promise<Job> {
  for (;;) {
    const job = await api<Job>('GET', `/v1/jobs/${id}`);
    tick(job);
    if (job.status === 'succeeded' || job.status === 'failed') return job;
    await new Promise((r) => setTimeout(r, 200));
  }
}

await main();
