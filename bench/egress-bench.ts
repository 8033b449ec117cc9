/**
 * What `network: egress` adds to a sandbox: N fresh runc sandboxes running /bin/true on a busybox
 * root with `network: none` and with `network: egress` (one allow entry), interleaved in one run so
 * the host's load hits both alike; then the same for prepared (prewarmed) sandboxes, where the
 * network is made ahead and a call should pay nothing. Prints a table, writes JSON beside it.
 * `node dist/bench/egress-bench.js`, N from BENCH_N (default 30), JSON to BENCH_JSON.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { summarize } from '../src/bench/stats.js';
import { type AllowEntry, parseAllowList } from '../src/core/egress-allow.js';
import type { SandboxSpec } from '../src/sandbox/backend.js';
import { RuncBackend } from '../src/sandbox/runc-backend.js';
import { makeBusyboxRootfs } from '../test/helpers/busybox-rootfs.js';

const N = Number(process.env.BENCH_N ?? 30);
const home = mkdtempSync(join(tmpdir(), 'agni-egress-bench-'));
const rootfs = makeBusyboxRootfs(join(home, 'busybox'));
const codeDir = join(home, 'code');
mkdirSync(codeDir);
const backend = new RuncBackend({ home });
const parsed = parseAllowList(['10.0.0.0/8:5432']);
if (!Array.isArray(parsed)) throw new Error(parsed.problem);
const allow: AllowEntry[] = parsed;
let seq = 0;

function spec(network: 'none' | 'egress'): SandboxSpec {
  return {
    id: `bench-${process.pid}-${seq++}`,
    rootfs,
    hostRuntime: false,
    codeDir,
    args: ['/bin/true'],
    env: {},
    cwd: '/',
    limits: { memoryBytes: 32 * 1024 * 1024, cpus: 1, pids: 32, timeoutMs: 10_000 },
    network,
    ...(network === 'egress' ? { allow } : {}),
  };
}

const io = { stdin: Buffer.alloc(0), onStdout: () => {}, onStderr: () => {} };

async function cold(network: 'none' | 'egress'): Promise<number> {
  const t0 = performance.now();
  const r = await backend.run(spec(network), io);
  if (r.outcome !== 'ok') throw new Error(`${network}: ${r.outcome}`);
  return performance.now() - t0;
}

/** prepare (not timed: a pool does it ahead), then start to exit (what a call pays) */
async function prewarmed(network: 'none' | 'egress'): Promise<{ prepare: number; call: number }> {
  const t0 = performance.now();
  const p = await backend.prepare(spec(network));
  const t1 = performance.now();
  const r = await p.start({ env: {}, stdin: Buffer.alloc(0), io, deadline: Date.now() + 10_000 });
  if (r.outcome !== 'ok') throw new Error(`${network}: ${r.outcome}`);
  return { prepare: t1 - t0, call: performance.now() - t1 };
}

const times: Record<string, number[]> = {};
const add = (k: string, v: number) => {
  times[k] ??= [];
  times[k].push(v);
};
await backend.recover();
for (let i = 0; i <= N; i++) {
  for (const network of ['none', 'egress'] as const) {
    const c = await cold(network);
    const p = await prewarmed(network);
    if (i === 0) continue; // warm-up
    add(`cold ${network}`, c);
    add(`prepare ${network}`, p.prepare);
    add(`prewarmed call ${network}`, p.call);
  }
}
await backend.shutdown();
rmSync(home, { recursive: true, force: true });

const rows = Object.entries(times).map(([name, xs]) => ({ name, ...summarize(xs) }));
const med = (k: string) => rows.find((r) => r.name === k)?.median ?? Number.NaN;
console.log(`network none vs egress, ${N} runs each, interleaved (ms)\n`);
console.log('| | median | p90 |\n| --- | ---: | ---: |');
for (const r of rows) console.log(`| ${r.name} | ${r.median.toFixed(1)} | ${r.p90.toFixed(1)} |`);
const ratios = {
  cold: med('cold egress') / med('cold none'),
  prepare: med('prepare egress') / med('prepare none'),
  prewarmedCall: med('prewarmed call egress') / med('prewarmed call none'),
};
console.log(
  `\negress/none: cold ${ratios.cold.toFixed(2)}x, prepare ${ratios.prepare.toFixed(2)}x, prewarmed call ${ratios.prewarmedCall.toFixed(2)}x`,
);
if (process.env.BENCH_JSON)
  writeFileSync(process.env.BENCH_JSON, JSON.stringify({ n: N, rows, ratios }, null, 2));
