/**
 * `npm run bench`: the latency of invoking a no-op function through the HTTP API, beside
 * the two floors it is built on, measured in the same run on the same busybox rootfs:
 * a raw `runc run` with the sandbox config Agni generates, and a plain fork/exec.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pino from 'pino';
import { makeBaselines } from '../src/bench/baselines.js';
import { type Summary, summarize } from '../src/bench/stats.js';
import { stamp } from '../src/core/phases.js';
import { formatMs } from '../src/core/units.js';
import { startEmbedded } from '../src/main/embedded.js';
import type { InvocationRecord } from '../src/store/store.js';
import { makeBusyboxRootfs } from '../test/helpers/busybox-rootfs.js';
import { tarOf } from '../test/helpers/tarball.js';

const N = Number(process.env.BENCH_N ?? 50);
const WARMUP = 3;

async function sample(label: string, fn: () => Promise<number>): Promise<number[]> {
  for (let i = 0; i < WARMUP; i++) await fn();
  const out: number[] = [];
  for (let i = 0; i < N; i++) out.push(await fn());
  process.stderr.write(`  ${label}: ${N} runs done\n`);
  return out;
}

async function main(): Promise<void> {
  const home = mkdtempSync(join(tmpdir(), 'agni-bench-'));
  const rootfs = makeBusyboxRootfs(join(home, 'busybox-rootfs'));
  const server = await startEmbedded({
    home,
    host: '127.0.0.1',
    port: 0,
    backend: 'runc',
    slots: 2,
    maxPayloadBytes: 1024 * 1024,
    logger: pino({ level: 'warn' }),
  });
  try {
    const post = (path: string, body: Buffer, type: string) =>
      fetch(server.url + path, {
        method: 'POST',
        headers: { 'content-type': type },
        body: new Uint8Array(body),
      });
    const imp = await post('/v1/images/busybox', await tarOf(rootfs), 'application/gzip');
    if (imp.status !== 201) throw new Error(`image import failed: ${await imp.text()}`);
    const dep = await post('/v1/functions', await tarOf(resolve('examples/noop')), 'application/gzip');
    if (dep.status !== 201) throw new Error(`deploy failed: ${await dep.text()}`);
    process.stderr.write(`bench: N=${N} (after ${WARMUP} warm-up runs each), busybox rootfs, runc backend\n`);

    const ids: string[] = [];
    const http = await sample('agni invoke over HTTP', async () => {
      const t0 = stamp();
      const r = await fetch(`${server.url}/v1/functions/noop/invoke`, { method: 'POST', body: '' });
      await r.arrayBuffer();
      if (r.status !== 200) throw new Error(`invoke failed with ${r.status}`);
      ids.push(r.headers.get('agni-invocation-id')!);
      return stamp() - t0;
    });

    // The same sandbox config the backend writes, run by runc directly (the isolation floor),
    // and the bare binary: built by the same code as `agni bench cold`'s baselines.
    const [rawRunc, forkExec] = await makeBaselines(['runc', 'fork'], {
      rootfs,
      args: ['/bin/true'],
      scratch: home,
      limits: { memoryBytes: 32 * 1024 * 1024, cpus: 1, pids: 128, timeoutMs: 5000 },
    });
    const raw = await sample('raw runc run', () => rawRunc!.once());
    const fork = await sample('fork/exec /bin/true', () => forkExec!.once());

    // Where the time goes inside Agni, from the invocation records.
    const phaseDeltas: Record<string, number[]> = {};
    for (const id of ids.slice(WARMUP)) {
      const rec = (await (await fetch(`${server.url}/v1/invocations/${id}`)).json()) as InvocationRecord;
      const p = rec.phases;
      const add = (k: string, a?: number, b?: number) => {
        if (a === undefined || b === undefined) return;
        phaseDeltas[k] ??= [];
        phaseDeltas[k].push(b - a);
      };
      add('received → placed', p.received, p.placed);
      add('placed → sandbox_ready', p.placed, p.sandbox_ready);
      add('sandbox_ready → started', p.sandbox_ready, p.started);
      add('started → finished', p.started, p.finished);
      add('received → finished (server side)', p.received, p.finished);
    }

    const rows: [string, Summary][] = [
      ['agni invoke (HTTP, runc)', summarize(http)],
      ['raw runc run', summarize(raw)],
      ['fork/exec', summarize(fork)],
    ];
    const rawMed = rows[1]![1].median;
    const forkMed = rows[2]![1].median;
    const out = process.stdout;
    out.write(
      `\n${'what'.padEnd(36)} ${'median'.padStart(9)} ${'p90'.padStart(9)} ${'mean'.padStart(9)} ${'vs runc'.padStart(8)} ${'vs fork'.padStart(8)}\n`,
    );
    for (const [label, s] of rows) {
      out.write(
        `${label.padEnd(36)} ${formatMs(s.median).padStart(9)} ${formatMs(s.p90).padStart(9)} ${formatMs(s.mean).padStart(9)} ${`${(s.median / rawMed).toFixed(2)}x`.padStart(8)} ${`${(s.median / forkMed).toFixed(1)}x`.padStart(8)}\n`,
      );
    }
    out.write('\ninside agni (from invocation records):\n');
    const phases = Object.fromEntries(Object.entries(phaseDeltas).map(([k, v]) => [k, summarize(v)]));
    for (const [k, s] of Object.entries(phases))
      out.write(
        `  ${k.padEnd(36)} median ${formatMs(s.median).padStart(9)}  p90 ${formatMs(s.p90).padStart(9)}\n`,
      );

    const result = {
      benchmark: 'core-invoke',
      date: new Date().toISOString(),
      n: N,
      warmup: WARMUP,
      machine: { cpus: (await import('node:os')).availableParallelism(), node: process.version },
      results: Object.fromEntries(rows.map(([k, s]) => [k, s])),
      ratios: {
        agni_vs_raw_runc: rows[0]![1].median / rawMed,
        agni_vs_fork: rows[0]![1].median / forkMed,
        runc_vs_fork: rawMed / forkMed,
      },
      phases,
    };
    const dir = resolve('bench/results');
    mkdirSync(dir, { recursive: true });
    const file = join(dir, `core-${result.date.replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    writeFileSync(join(dir, 'core-latest.json'), `${JSON.stringify(result, null, 2)}\n`);
    out.write(`\nJSON: ${file}\n`);
  } finally {
    await server.close();
    rmSync(home, { recursive: true, force: true });
  }
}

await main();
