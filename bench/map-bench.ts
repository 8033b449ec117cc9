/**
 * `npm run bench:map`: the smiles-grep substructure search over sharded SMILES, as
 * `agni map smiles-grep SHARDS -c 2 --reduce smiles-count` through the real CLI against a real
 * embedded Agni (runc), beside the same search on the bare host (`ls | xargs -P 2 -n 1 grep -c`
 * and a sum), in one run on the same shards. Rounds alternate the two so drift hits both alike;
 * every round's totals must agree or the bench fails. Also `-c 1` / `-P 1` unless BENCH_C1=0.
 * Beside the upload path, the same search by reference: the shards directory is a server volume
 * (`--volume shards=DIR`) and `agni map smiles-grep-ref --ref 'shards:/*.smi'` greps each file
 * where it is (AGNI_INPUT), nothing uploaded.
 *
 * Also by reference on warm workers (a shell worker per slot reads each shard's file).
 *
 * BENCH_LINES (3000000), BENCH_SHARDS (24), BENCH_ROUNDS (5), BENCH_ONLY (e.g. xargs,ref,warm).
 * Data: bench/.data (git-ignored).
 */
import { execFile, spawnSync } from 'node:child_process';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import pino from 'pino';
import { type Summary, summarize } from '../src/bench/stats.js';
import { parseManifest } from '../src/core/manifest.js';
import { formatMs } from '../src/core/units.js';
import { startEmbedded } from '../src/main/embedded.js';
import type { InvocationRecord } from '../src/store/store.js';

const LINES = Number(process.env.BENCH_LINES ?? 3_000_000);
const SHARDS = Number(process.env.BENCH_SHARDS ?? 24);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 5);
const WITH_C1 = process.env.BENCH_C1 !== '0';
/** BENCH_ONLY: a comma-separated subset of the -c 2 variants' labels' keys: upload, xargs, ref, warm */
const ONLY = (process.env.BENCH_ONLY ?? '')
  .split(',')
  .filter(Boolean)
  .map(
    (k) =>
      ({
        upload: 'agni map -c 2 --reduce',
        xargs: 'xargs -P 2 grep -c + sum',
        ref: 'agni map --ref -c 2 --reduce',
        warm: 'agni map --ref -c 2 (warm workers)',
      })[k] ?? k,
  );
const SEED = 42;
const CLI = resolve('dist/src/cli/main.js');
const GREP_DIR = resolve('examples/smiles-grep');
const COUNT_DIR = resolve('examples/smiles-count');

const UPLOAD_C2 = 'agni map -c 2 --reduce';
const XARGS_P2 = 'xargs -P 2 grep -c + sum';
const REF_C2 = 'agni map --ref -c 2 --reduce';
const WARM_C2 = 'agni map --ref -c 2 (warm workers)';
const UPLOAD_C1 = 'agni map -c 1 --reduce';
const XARGS_P1 = 'xargs -P 1 grep -c + sum';

/**
 * smiles-grep by reference: the example's manifest (same pattern, locale, limits) with the shards
 * volume mounted at /data, grepping the file AGNI_INPUT names instead of stdin.
 */
function refFunction(home: string, exampleYaml: string): string {
  const dir = join(home, 'smiles-grep-ref');
  mkdirSync(dir, { recursive: true });
  const yaml = exampleYaml
    .replace(/^name: .*$/m, 'name: smiles-grep-ref')
    .replace(/^command: .*$/m, 'command: ["/bin/sh", "/fn/grep-ref.sh"]');
  writeFileSync(join(dir, 'agni.yaml'), `${yaml}\nvolumes: [{name: shards, path: /data}]\n`);
  // grep exits 1 when no line matched: a count of 0, not a failure (as grep.sh)
  writeFileSync(
    join(dir, 'grep-ref.sh'),
    '#!/bin/sh\ngrep -c -E -e "$PATTERN" "$AGNI_INPUT"\nstatus=$?\n[ "$status" -le 1 ] && exit 0\nexit "$status"\n',
  );
  return dir;
}

/**
 * The same search by reference on warm workers (lifecycle: warm, a shell worker per slot): each
 * shard is one request to a running sandbox instead of a sandbox of its own.
 */
function warmFunction(home: string, exampleYaml: string): string {
  const dir = join(home, 'smiles-grep-warm');
  mkdirSync(dir, { recursive: true });
  const yaml = exampleYaml
    .replace(/^name: .*$/m, 'name: smiles-grep-warm')
    .replace(/^command: .*$/m, 'command: ["/bin/sh", "/fn/grep-warm.sh"]');
  writeFileSync(
    join(dir, 'agni.yaml'),
    `${yaml}\nvolumes: [{name: shards, path: /data}]\nlifecycle: warm\npool:\n  max: 2\n  idle: 300s\n`,
  );
  // grep exits 1 when no line matched: a count of 0, not a failure (as grep.sh)
  writeFileSync(
    join(dir, 'grep-warm.sh'),
    [
      '#!/bin/sh',
      // biome-ignore lint/suspicious/noTemplateCurlyInString: a shell parameter expansion
      '. "${AGNI_RUNTIMES:-/agni/runtimes}/shell/agni-warm.sh"',
      'handle() {',
      '  grep -c -E -e "$PATTERN" "$AGNI_INPUT"',
      '  status=$?',
      '  [ "$status" -le 1 ] && return 0',
      '  return "$status"',
      '}',
      'agni_serve handle',
      '',
    ].join('\n'),
  );
  return dir;
}

interface Run {
  ms: number;
  total: number;
  /** the job id `agni map` reported */
  job?: string;
}

/** Runs `cmd args` to completion (asynchronously: the embedded server shares this event loop). */
function exec(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  quiet = false,
): Promise<{ ms: number; stdout: string; stderr: string }> {
  return new Promise((res, rej) => {
    const t0 = performance.now();
    const child = execFile(cmd, args, { env, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      const ms = performance.now() - t0;
      if (err) return rej(new Error(`${cmd} ${args.join(' ')}: ${err.message}\n${stderr}`));
      // On the host pipeline any stderr means something went wrong (a grep error hidden by
      // xargs, say): fail loudly. `agni map` reports its job on stderr; its exit code is the check.
      if (quiet && stderr.trim() !== '')
        return rej(new Error(`${cmd} ${args.join(' ')} wrote to stderr:\n${stderr}`));
      res({ ms, stdout, stderr });
    });
    child.stdin?.end();
  });
}

/** A timed run whose stdout must be one count: the total number of matching lines. */
async function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv, quiet = false): Promise<Run> {
  const { ms, stdout, stderr } = await exec(cmd, args, env, quiet);
  if (!/^\d+$/.test(stdout.trim()))
    throw new Error(`${cmd} ${args.join(' ')}: expected a count, got "${stdout}"`);
  return { ms, total: Number(stdout.trim()), job: /agni map: job (\S+):/.exec(stderr)?.[1] };
}

/** The shards for LINES/SHARDS/SEED, made once by the example's own data step and then reused. */
function ensureData(): { dir: string; files: string[]; bytes: number } {
  const dir = resolve(`bench/.data/smiles-${LINES}x${SHARDS}-s${SEED}`);
  if (!existsSync(dir)) {
    // Written beside and renamed into place, so an interrupted run never leaves half a data set.
    const partial = `${dir}.partial`;
    rmSync(partial, { recursive: true, force: true });
    const r = spawnSync(
      process.execPath,
      [
        join(GREP_DIR, 'make-data.mjs'),
        '--lines',
        String(LINES),
        '--shards',
        String(SHARDS),
        '--seed',
        String(SEED),
        '--out',
        partial,
      ],
      { stdio: ['ignore', 'inherit', 'inherit'] },
    );
    if (r.status !== 0) throw new Error(`make-data failed (exit ${r.status})`);
    renameSync(partial, dir);
  }
  const files = readdirSync(dir)
    .filter((f) => f.endsWith('.smi'))
    .sort()
    .map((f) => join(dir, f));
  if (files.length !== SHARDS) throw new Error(`${dir}: expected ${SHARDS} shards, found ${files.length}`);
  return { dir, files, bytes: files.reduce((s, f) => s + statSync(f).size, 0) };
}

async function main(): Promise<void> {
  const { dir, files, bytes } = ensureData();
  const pattern = parseManifest(readFileSync(join(GREP_DIR, 'agni.yaml'), 'utf8')).env.PATTERN;
  if (!pattern) throw new Error(`${GREP_DIR}/agni.yaml: env.PATTERN is not set`);
  const largest = Math.max(...files.map((f) => statSync(f).size));
  const home = mkdtempSync(join(tmpdir(), 'agni-map-bench-'));
  const server = await startEmbedded({
    home,
    host: '127.0.0.1',
    port: 0,
    backend: 'runc',
    slots: availableParallelism(),
    maxPayloadBytes: Math.max(16 << 20, 2 * largest),
    logger: pino({ level: 'warn' }),
    volumes: [{ name: 'shards', hostPath: dir, mode: 'ro' }],
  });
  const refDir = refFunction(home, readFileSync(join(GREP_DIR, 'agni.yaml'), 'utf8'));
  const warmDir = warmFunction(home, readFileSync(join(GREP_DIR, 'agni.yaml'), 'utf8'));
  try {
    const env = { ...process.env, AGNI_URL: server.url };
    const agni = (args: string[]) => timed(process.execPath, [CLI, ...args], env);
    for (const fn of [GREP_DIR, COUNT_DIR, refDir, warmDir])
      await exec(process.execPath, [CLI, 'deploy', fn], env);

    // The bare host: the same grep, same shards, same locale, -P parallel processes, then a sum.
    const host = (p: number) =>
      timed(
        'bash',
        [
          '-c',
          'cd "$1" && ls | xargs -P "$2" -n 1 grep -c -E -e "$PATTERN" | awk \'{ s += $1 } END { print s + 0 }\'',
          'xargs-grep',
          dir,
          String(p),
        ],
        { ...env, PATTERN: pattern, LC_ALL: 'C' },
        true,
      );
    const mapped = (c: number) =>
      agni(['map', 'smiles-grep', dir, '-c', String(c), '--reduce', 'smiles-count']);

    const byRef = (c: number) =>
      agni(['map', 'smiles-grep-ref', '--ref', 'shards:/*.smi', '-c', String(c), '--reduce', 'smiles-count']);

    const byRefWarm = (c: number) =>
      agni([
        'map',
        'smiles-grep-warm',
        '--ref',
        'shards:/*.smi',
        '-c',
        String(c),
        '--reduce',
        'smiles-count',
      ]);

    const variants: [string, () => Promise<Run>][] = [
      [UPLOAD_C2, () => mapped(2)],
      [XARGS_P2, () => host(2)],
      [REF_C2, () => byRef(2)],
      [WARM_C2, () => byRefWarm(2)],
    ].filter(([k]) => ONLY.length === 0 || ONLY.includes(k as string)) as [string, () => Promise<Run>][];
    if (WITH_C1) variants.push([UPLOAD_C1, () => mapped(1)], [XARGS_P1, () => host(1)]);

    process.stderr.write(
      `bench:map: ${LINES} lines, ${(bytes / 1e6).toFixed(1)} MB in ${SHARDS} shards, pattern ${pattern}, ` +
        `${ROUNDS} rounds after 1 warm-up, runc backend, ${availableParallelism()} cores\n`,
    );
    const samples = new Map<string, number[]>(variants.map(([k]) => [k, []]));
    const spans: Record<string, number[]> = {};
    const perShard: Record<string, number[]> = {};
    const refSpans: Record<string, number[]> = {};
    const refPerShard: Record<string, number[]> = {};
    const warmSpans: Record<string, number[]> = {};
    const warmPerShard: Record<string, number[]> = {};
    let expected: number | undefined;
    for (let round = 0; round <= ROUNDS; round++) {
      for (const [label, run] of variants) {
        const r = await run();
        expected ??= r.total;
        if (r.total !== expected)
          throw new Error(
            `round ${round}, ${label}: total ${r.total} differs from ${expected}; results disagree`,
          );
        if (round === 0) continue; // warm-up: page cache, prewarmed pools, JIT
        samples.get(label)!.push(r.ms);
        if (label === UPLOAD_C2 || label === REF_C2 || label === WARM_C2) {
          if (!r.job) throw new Error(`${label}: no job id in agni map's report`);
          const [js, ps] =
            label === UPLOAD_C2
              ? [spans, perShard]
              : label === REF_C2
                ? [refSpans, refPerShard]
                : [warmSpans, warmPerShard];
          await collectJob(server.url, r.job, r.ms, js, ps);
        }
      }
      if (round > 0) process.stderr.write(`  round ${round}/${ROUNDS} done\n`);
    }

    // The CLI's own start-up is part of every agni map run; measured alone for context.
    const start: number[] = [];
    for (let i = 0; i < ROUNDS; i++) {
      const t0 = performance.now();
      spawnSync(process.execPath, [CLI, '--version'], { stdio: 'ignore' });
      start.push(performance.now() - t0);
    }

    const rows: [string, Summary][] = [...samples].map(([k, v]) => [k, summarize(v)]);
    const med = (label: string) => rows.find(([k]) => k === label)?.[1].median ?? Number.NaN;
    const agniMed = med(UPLOAD_C2);
    const hostMed = med(XARGS_P2);
    const refMed = med(REF_C2);
    const warmMed = med(WARM_C2);
    const out = process.stdout;
    out.write(`\nmatches: ${expected} of ${LINES} lines (every run agreed)\n\n`);
    out.write(
      `${'what'.padEnd(28)} ${'median'.padStart(9)} ${'p90'.padStart(9)} ${'lines/s'.padStart(12)} ${'MB/s'.padStart(8)} ${'vs xargs -P 2'.padStart(14)}\n`,
    );
    for (const [label, s] of rows)
      out.write(
        `${label.padEnd(28)} ${formatMs(s.median).padStart(9)} ${formatMs(s.p90).padStart(9)} ${Math.round(
          LINES / (s.median / 1000),
        )
          .toLocaleString('en-US')
          .padStart(
            12,
          )} ${(bytes / 1e6 / (s.median / 1000)).toFixed(1).padStart(8)} ${`${(s.median / hostMed).toFixed(2)}x`.padStart(14)}\n`,
      );
    const cli = summarize(start);
    out.write(
      `${'agni --version (CLI start)'.padEnd(28)} ${formatMs(cli.median).padStart(9)} ${formatMs(cli.p90).padStart(9)}\n`,
    );
    out.write(`\nratio agni map / xargs (-c 2 vs -P 2, medians): ${(agniMed / hostMed).toFixed(2)}x\n`);
    out.write(`ratio agni map --ref / xargs (-c 2 vs -P 2, medians): ${(refMed / hostMed).toFixed(2)}x\n`);
    out.write(`ratio agni map upload / --ref (-c 2, medians): ${(agniMed / refMed).toFixed(2)}x\n`);
    out.write(
      `ratio agni map --ref warm / xargs (-c 2 vs -P 2, medians): ${(warmMed / hostMed).toFixed(2)}x\n`,
    );
    const summaries = (acc: Record<string, number[]>) =>
      Object.fromEntries(Object.entries(acc).map(([k, v]) => [k, summarize(v)]));
    const jobSpans = summaries(spans);
    const phases = summaries(perShard);
    const refJobSpans = summaries(refSpans);
    const refPhases = summaries(refPerShard);
    out.write('\nwhere an agni map -c 2 run goes (job record timestamps):\n');
    for (const [k, s] of Object.entries(jobSpans))
      out.write(
        `  ${k.padEnd(44)} median ${formatMs(s.median).padStart(9)}  p90 ${formatMs(s.p90).padStart(9)}\n`,
      );
    out.write(`per shard inside agni (map -c 2, ${SHARDS * ROUNDS} invocations):\n`);
    for (const [k, s] of Object.entries(phases))
      out.write(
        `  ${k.padEnd(44)} median ${formatMs(s.median).padStart(9)}  p90 ${formatMs(s.p90).padStart(9)}\n`,
      );
    out.write('\nwhere an agni map --ref -c 2 run on warm workers goes (job record timestamps):\n');
    for (const [k, s] of [
      ...Object.entries(summaries(warmSpans)),
      ...Object.entries(summaries(warmPerShard)),
    ])
      out.write(
        `  ${k.padEnd(44)} median ${formatMs(s.median).padStart(9)}  p90 ${formatMs(s.p90).padStart(9)}\n`,
      );
    out.write('\nwhere an agni map --ref -c 2 run goes (job record timestamps):\n');
    for (const [k, s] of [...Object.entries(refJobSpans), ...Object.entries(refPhases)])
      out.write(
        `  ${k.padEnd(44)} median ${formatMs(s.median).padStart(9)}  p90 ${formatMs(s.p90).padStart(9)}\n`,
      );

    const result = {
      benchmark: 'map-smiles-grep',
      date: new Date().toISOString(),
      rounds: ROUNDS,
      warmup: 1,
      data: { lines: LINES, shards: SHARDS, bytes, seed: SEED, pattern, matches: expected },
      machine: { cpus: availableParallelism(), node: process.version },
      results: Object.fromEntries(rows),
      cli_start: cli,
      ratios: {
        agni_map_c2_vs_xargs_p2: agniMed / hostMed,
        agni_map_ref_c2_vs_xargs_p2: refMed / hostMed,
        agni_map_upload_vs_ref_c2: agniMed / refMed,
        agni_map_ref_warm_c2_vs_xargs_p2: warmMed / hostMed,
        ...(WITH_C1 && {
          agni_map_c1_vs_xargs_p1: med(UPLOAD_C1) / med(XARGS_P1),
          agni_map_c1_vs_c2: med(UPLOAD_C1) / agniMed,
          xargs_p1_vs_p2: med(XARGS_P1) / hostMed,
        }),
      },
      job_spans: jobSpans,
      phases,
      ref_job_spans: refJobSpans,
      ref_phases: refPhases,
      warm_job_spans: summaries(warmSpans),
      warm_phases: summaries(warmPerShard),
    };
    const resultsDir = resolve('bench/results');
    mkdirSync(resultsDir, { recursive: true });
    const file = join(resultsDir, `map-${result.date.replace(/[:.]/g, '-')}.json`);
    writeFileSync(file, `${JSON.stringify(result, null, 2)}\n`);
    writeFileSync(join(resultsDir, 'map-latest.json'), `${JSON.stringify(result, null, 2)}\n`);
    out.write(`\nJSON: ${file}\n`);
  } finally {
    await server.close();
    rmSync(home, { recursive: true, force: true });
  }
}

interface JobView {
  createdAt: number;
  startedAt: number | null;
  finishedAt: number | null;
  reduceInvocation: string | null;
}

interface ItemView {
  invocationId: string | null;
  finishedAt: number | null;
}

/**
 * Splits one `agni map` run (wall `ms`) by its job's timestamps into the CLI's side (start-up,
 * polling, reading the output), the input upload, the map items and the reduce; and adds each
 * item's invocation phases to `perShard`.
 */
async function collectJob(
  url: string,
  id: string,
  ms: number,
  spans: Record<string, number[]>,
  perShard: Record<string, number[]>,
): Promise<void> {
  const get = async <T>(path: string) => {
    const r = await fetch(url + path);
    if (r.status !== 200) throw new Error(`GET ${path}: ${r.status} ${await r.text()}`);
    return (await r.json()) as T;
  };
  const job = await get<JobView>(`/v1/jobs/${id}`);
  const { items } = await get<{ items: ItemView[] }>(`/v1/jobs/${id}/items?limit=10000`);
  const add = (acc: Record<string, number[]>, k: string, a?: number | null, b?: number | null) => {
    if (a === undefined || b === undefined || a === null || b === null) return;
    acc[k] ??= [];
    acc[k].push(b - a);
  };
  const lastItem = Math.max(...items.map((i) => i.finishedAt ?? Number.NaN));
  add(spans, 'CLI side (start, polling, output)', 0, ms - (job.finishedAt! - job.createdAt));
  add(spans, 'job created → started (inputs uploaded)', job.createdAt, job.startedAt);
  add(spans, 'started → last shard finished', job.startedAt, lastItem);
  add(spans, 'last shard → job finished (reduce)', lastItem, job.finishedAt);
  for (const it of items) {
    if (!it.invocationId) continue;
    const { phases: p } = await get<InvocationRecord>(`/v1/invocations/${it.invocationId}`);
    add(perShard, 'received → placed (waiting for a slot)', p.received, p.placed);
    add(perShard, 'placed → started', p.placed, p.started);
    add(perShard, 'started → finished (sh + grep)', p.started, p.finished);
    add(perShard, 'received → finished', p.received, p.finished);
  }
}

await main();
