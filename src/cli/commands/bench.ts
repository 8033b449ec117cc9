import { writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { resolve } from 'node:path';
import type { Command } from 'commander';
import { BASELINES, type BaselineName, COLD_MODES, type ColdMode } from '../../bench/cold-modes.js';
import { coldCsv, coldTable, phaseTable } from '../../bench/cold-report.js';
import { runLoad, runLoadAt } from '../../bench/load.js';
import { CEILING_TITLES, CEILINGS, type Ceiling, startCeiling } from '../../bench/load-ceiling.js';
import {
  ceilingTable,
  type LoadLevel,
  loadCsv,
  loadSvg,
  loadTable,
  parseLevels,
} from '../../bench/load-report.js';
import { AgniError } from '../../core/errors.js';
import { parseDuration } from '../../core/units.js';
import { ApiClient } from '../client.js';
import { printJson } from '../output.js';
import { registerBenchSweep } from './bench-sweep.js';

const DEFAULT_LEVELS = '1,2,3,5,7,11,13,17,19,23,29';

export function registerBench(program: Command): void {
  const bench = program
    .command('bench')
    .description(
      'measure Agni: cold starts against baselines, load over HTTP, sweeps of a function across modes',
    )
    .addHelpText(
      'after',
      '\nExamples:\n  agni bench cold examples/noop\n  agni bench load noop -c 1,4,16 --svg load.svg\n  agni bench sweep examples/python-stats -c 1,2,4 -n 20 --md sweep.md',
    );
  registerBenchSweep(bench);

  bench
    .command('cold')
    .argument('<dir>', 'function directory (with agni.yaml); a no-op filter measures pure platform overhead')
    .description(
      'cold-start latency per mode, beside fork/exec, unshare+chroot, raw runc and docker, in one run',
    )
    .option(
      '-n, --runs <n>',
      'measured runs per mode and baseline (one extra warm-up run is discarded)',
      '10',
    )
    .option('--modes <list>', `modes: ${COLD_MODES.join(',')}`, COLD_MODES.join(','))
    .option('--baselines <list>', `baselines: ${BASELINES.join(',')}`, BASELINES.join(','))
    .option(
      '--rootfs <path>',
      "root filesystem (dir or tar) of the function's image runtime (busybox is built if omitted)",
    )
    .option('--gap <time>', 'pause before each prewarmed run so the pool refills', '200ms')
    .option('--warm <dir>', 'a lifecycle: warm function for the warm row (e.g. examples/noop-warm)')
    .option('--lambda <dir>', 'a protocol: lambda function for the lambda row (e.g. examples/noop-lambda)')
    .option('--json', 'print the results as JSON')
    .option('--csv', 'print CSV')
    .addHelpText(
      'after',
      `\nRuns on this machine (root, runc): it starts scratch Agni instances, so it never disturbs a server.\n\nExamples:\n  agni bench cold examples/noop\n  agni bench cold examples/noop -n 30 --modes runc,prewarmed --json\n  agni bench cold examples/noop --warm examples/noop-warm\n  agni bench cold examples/noop --warm examples/noop-warm --lambda examples/noop-lambda`,
    )
    .action(
      async (
        dir: string,
        o: {
          runs: string;
          modes: string;
          baselines: string;
          rootfs?: string;
          gap: string;
          warm?: string;
          lambda?: string;
          json?: boolean;
          csv?: boolean;
        },
      ) => {
        const runs = Number(o.runs);
        if (!Number.isInteger(runs) || runs < 1 || runs > 10_000)
          throw new AgniError(
            'bad_request',
            `--runs: expected a whole number from 1 to 10000, got ${JSON.stringify(o.runs)}`,
          );
        const modes = listOption('--modes', o.modes, COLD_MODES);
        const baselines = listOption('--baselines', o.baselines, BASELINES);
        const gapMs = parseDuration(o.gap);
        if (typeof gapMs === 'string')
          throw new AgniError('bad_request', `--gap: expected ${gapMs}, got ${JSON.stringify(o.gap)}`);
        const quiet = o.json || o.csv || !process.stderr.isTTY;
        // Loaded on use: it pulls in the whole embedded server, which other verbs never need.
        const { runCold } = await import('../../bench/cold.js');
        const result = await runCold({
          dir: resolve(dir),
          runs,
          modes: modes as ColdMode[],
          baselines: baselines as BaselineName[],
          rootfs: o.rootfs,
          gapMs,
          warmDir: o.warm ? resolve(o.warm) : undefined,
          lambdaDir: o.lambda ? resolve(o.lambda) : undefined,
          onProgress: quiet
            ? undefined
            : (label, done, total) => {
                const bar = '█'.repeat(Math.round((done / total) * 20)).padEnd(20, '░');
                process.stderr.write(`\r\x1b[K${bar} ${label} ${done}/${total}`);
              },
        });
        if (!quiet) process.stderr.write('\r\x1b[K');
        if (o.json) return printJson(result);
        if (o.csv) return void process.stdout.write(coldCsv(result.rows));
        process.stdout.write(
          `agni bench cold ${result.function}: ${result.runs} runs each (first discarded), HTTP request to response\n\n`,
        );
        process.stdout.write(`${coldTable(result.rows)}\n\n${phaseTable(result.rows)}\n`);
      },
    );

  bench
    .command('load')
    .argument('<function>', 'a deployed function to invoke')
    .description('throughput and latency percentiles at each concurrency level (closed loop over HTTP)')
    .option('-c, --concurrency <levels>', 'comma-separated concurrency levels', DEFAULT_LEVELS)
    .option('--duration <time>', 'how long each level runs', '3s')
    .option('-d, --data <payload>', 'payload for every invocation', '')
    .option('--json', 'print the results as JSON')
    .option('--csv [file]', 'print CSV (or write it to a file)')
    .option('--svg <file>', 'write a chart of throughput and latency against concurrency')
    .option(
      '--ceilings <list>',
      `what to measure after Agni, same clients and levels: hello (a bare Fastify server), worker (the same + a warm Python no-op worker per slot + a SQLite row per call)`,
      'hello',
    )
    .option(
      '--slots <n>',
      "warm workers of the worker ceiling (Agni's --slots)",
      String(availableParallelism()),
    )
    .option('--no-ceiling', 'skip the ceilings')
    .addHelpText(
      'after',
      `\nExamples:\n  agni bench load noop\n  agni bench load noop -c 1,2,4,8 --duration 5s --svg load.svg --csv load.csv\n  agni bench load wordcount --data "a b c" --json\n  agni bench load noop-warm -c 8 --no-ceiling\n  agni bench load noop-warm -c 8 --ceilings hello,worker\n\nEach ceiling is a server in a process of its own on this machine, driven by the same clients right\nafter Agni, in the same run: hello is what HTTP alone costs here; worker is what a durable warm call\nneeds at the least (HTTP, a warm Python worker over the warm protocol, a SQLite row).`,
    )
    .action(
      async (
        fn: string,
        o: {
          concurrency: string;
          duration: string;
          data: string;
          json?: boolean;
          csv?: string | boolean;
          svg?: string;
          ceiling: boolean;
          ceilings: string;
          slots: string;
        },
      ) => {
        const levels = parseLevels(o.concurrency);
        if (typeof levels === 'string')
          throw new AgniError(
            'bad_request',
            `--concurrency: expected ${levels}, got ${JSON.stringify(o.concurrency)}`,
          );
        const durationMs = parseDuration(o.duration);
        if (typeof durationMs === 'string')
          throw new AgniError(
            'bad_request',
            `--duration: expected ${durationMs}, got ${JSON.stringify(o.duration)}`,
          );
        const kinds = o.ceiling ? (listOption('--ceilings', o.ceilings, CEILINGS) as Ceiling[]) : [];
        const slots = Number(o.slots);
        if (!Number.isInteger(slots) || slots < 1 || slots > 256)
          throw new AgniError(
            'bad_request',
            `--slots: expected a whole number from 1 to 256, got ${JSON.stringify(o.slots)}`,
          );
        const client = new ApiClient();
        await client.json('GET', `/v1/functions/${encodeURIComponent(fn)}`);
        const quiet = o.json || o.csv === true || !process.stderr.isTTY;
        const total = levels.length * durationMs;
        const results = await runLoad(client, {
          function: fn,
          levels,
          durationMs,
          payload: Buffer.from(o.data),
          onProgress: quiet
            ? undefined
            : (() => {
                let last = 0;
                return (level, done, elapsed) => {
                  const now = Date.now();
                  if (now - last < 100) return;
                  last = now;
                  const i = levels.indexOf(level);
                  const frac = Math.min(1, (i * durationMs + elapsed) / total);
                  const bar = '█'.repeat(Math.round(frac * 30)).padEnd(30, '░');
                  process.stderr.write(
                    `\r${bar} ${(frac * 100).toFixed(0).padStart(3)}%  concurrency ${level}: ${done} requests`,
                  );
                };
              })(),
        });
        if (!quiet) process.stderr.write('\r\x1b[K');
        const ceilings: Partial<Record<Ceiling, LoadLevel[]>> = {};
        for (const kind of kinds) {
          if (!quiet) process.stderr.write(`ceiling: ${CEILING_TITLES[kind]}, same levels...\n`);
          const server = await startCeiling(kind, slots);
          try {
            ceilings[kind] = await runLoadAt(
              server.url,
              {},
              { function: fn, levels, durationMs, payload: Buffer.from(o.data) },
            );
          } finally {
            await server.stop();
          }
        }
        if (o.svg) await writeFile(o.svg, loadSvg(results, `agni bench load ${fn}`));
        if (typeof o.csv === 'string') await writeFile(o.csv, loadCsv(results));
        if (o.json)
          printJson({
            function: fn,
            durationMs,
            levels: results,
            // `ceiling`: the hello one, as before there were several
            ...(ceilings.hello ? { ceiling: ceilings.hello } : {}),
            ...(kinds.length > 0 ? { ceilings } : {}),
          });
        else if (o.csv === true) process.stdout.write(loadCsv(results));
        else {
          process.stdout.write(`${loadTable(results)}\n`);
          for (const kind of kinds)
            process.stdout.write(
              `\nbeside ${CEILING_TITLES[kind]}:\n${ceilingTable(results, ceilings[kind] ?? [], kind)}\n`,
            );
        }
        if (!o.json && o.svg) process.stderr.write(`chart: ${o.svg}\n`);
      },
    );
}

function listOption(flag: string, raw: string, allowed: readonly string[]): string[] {
  const items = raw
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  const bad = items.find((x) => !allowed.includes(x));
  if (bad !== undefined || items.length === 0) {
    throw new AgniError(
      'bad_request',
      `${flag}: expected a comma-separated list of ${allowed.join(', ')}, got ${JSON.stringify(raw)}`,
    );
  }
  return [...new Set(items)];
}
