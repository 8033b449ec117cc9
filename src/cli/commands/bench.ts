import { writeFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { runLoad } from '../../bench/load.js';
import { loadCsv, loadSvg, loadTable, parseLevels } from '../../bench/load-report.js';
import { AgniError } from '../../core/errors.js';
import { parseDuration } from '../../core/units.js';
import { ApiClient } from '../client.js';
import { printJson } from '../output.js';

const DEFAULT_LEVELS = '1,2,3,5,7,11,13,17,19,23,29';

export function registerBench(program: Command): void {
  const bench = program.command('bench').description('measure Agni: load over HTTP');

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
    .addHelpText(
      'after',
      `\nExamples:\n  agni bench load noop\n  agni bench load noop -c 1,2,4,8 --duration 5s --svg load.svg --csv load.csv\n  agni bench load wordcount --data "a b c" --json`,
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
        if (o.svg) await writeFile(o.svg, loadSvg(results, `agni bench load ${fn}`));
        if (typeof o.csv === 'string') await writeFile(o.csv, loadCsv(results));
        if (o.json) printJson({ function: fn, durationMs, levels: results });
        else if (o.csv === true) process.stdout.write(loadCsv(results));
        else process.stdout.write(`${loadTable(results)}\n`);
        if (!o.json && o.svg) process.stderr.write(`chart: ${o.svg}\n`);
      },
    );
}
