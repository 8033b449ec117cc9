/** `agni bench sweep`: a function across modes and concurrency levels against the bare host. */

import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import type { Command } from 'commander';
import { parseLevels } from '../../bench/load-report.js';
import { SWEEP_BASELINES, SWEEP_MODES, type SweepBaseline, type SweepMode } from '../../bench/sweep-modes.js';
import { sweepMarkdown } from '../../bench/sweep-report.js';
import { svgFileName, sweepSvg } from '../../bench/sweep-svg.js';
import { AgniError } from '../../core/errors.js';
import { parseVolumeFlags } from '../../core/volumes.js';
import { ApiClient } from '../client.js';
import { printJson } from '../output.js';
import { stderrBar } from '../progress-bar.js';
import { collect, intOption } from './up.js';

interface SweepFlags {
  concurrency: string;
  replicates: string;
  modes: string;
  baseline: string;
  payload?: string;
  payloadFile?: string;
  csv?: string;
  json?: string | boolean;
  svgDir?: string;
  md?: string;
  resume?: boolean;
  volume?: string[];
  rootfs?: string;
  publish?: boolean;
}

function listFlag<T extends string>(flag: string, raw: string, allowed: readonly T[], none = false): T[] {
  const items = raw
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  if (none && items.length === 1 && items[0] === 'none') return [];
  const bad = items.find((x) => !allowed.includes(x as T));
  if (bad !== undefined || items.length === 0)
    throw new AgniError(
      'bad_request',
      `${flag}: expected a comma-separated list of ${allowed.join(', ')}${none ? ' (or none)' : ''}, got ${JSON.stringify(raw)}`,
    );
  return [...new Set(items)] as T[];
}

export function registerBenchSweep(bench: Command): void {
  bench
    .command('sweep')
    .argument('<dir>', 'function directory (with agni.yaml)')
    .description(
      "a function's replicates at each concurrency level, per mode and on the bare host: tidy CSV, JSON summary, tables and charts",
    )
    .option('-c, --concurrency <levels>', 'comma-separated concurrency levels', '1,2,4,6,8')
    .option('-n, --replicates <n>', 'replicates per mode and level', '20')
    .option('--modes <list>', `Agni modes: ${SWEEP_MODES.join(',')}`, SWEEP_MODES.join(','))
    .option(
      '--baseline <list>',
      'references outside Agni: host (the ratios are to it), docker (when an engine answers), or none',
      SWEEP_BASELINES.join(','),
    )
    .option('--payload <text>', "every replicate's payload (stdin)")
    .option('--payload-file <file>', "every replicate's payload, from a file")
    .option('--csv <file>', 'the tidy CSV, one row per replicate (default agni-sweep-NAME.csv)')
    .option('--json [file]', 'the JSON summary: printed, or written to a file')
    .option('--svg-dir <dir>', 'one SVG chart per metric: box plots by mode across levels')
    .option('--md <file>', 'the markdown report (tables of median / p90 and ratio to host)')
    .option('--resume', 'continue the sweep in --csv: replicates already there are not run again')
    .option('--volume <name=path[:ro|:rw]>', 'a volume the function mounts (repeatable)', collect)
    .option('--rootfs <path>', "root filesystem (dir or tar) of the function's image runtime")
    .option('--publish', 'post the summary to the server (AGNI_URL, AGNI_TOKEN) for the dashboard')
    .addHelpText(
      'after',
      `
Runs on this machine (root, runc): scratch Agni instances, never a server's. Levels are interleaved:
for each level, rounds over the modes. A function may print JSON metrics on stdout (its last JSON
object line); they become CSV columns beside wall_ms and Agni's phases.

Examples:
  agni bench sweep examples/python-stats -c 1,2,4 -n 20 --md sweep.md --svg-dir charts
  agni bench sweep examples/corn-yield/python -c 1,2,4,6,8 -n 200 --volume data=/srv/corn:ro --csv corn.csv
  agni bench sweep examples/corn-yield/python --csv corn.csv --resume   # after an interrupted run
  agni bench sweep examples/noop -c 1,2 -n 5 --modes runc,warm --baseline none --json
  agni bench sweep examples/python-stats -n 10 --publish   # the dashboard's Benchmarks page shows it`,
    )
    .action(async (dir: string, o: SweepFlags) => {
      const levels = parseLevels(o.concurrency);
      if (typeof levels === 'string')
        throw new AgniError(
          'bad_request',
          `--concurrency: expected ${levels}, got ${JSON.stringify(o.concurrency)}`,
        );
      const n = intOption('--replicates', o.replicates, 1);
      if (n > 100_000) throw new AgniError('bad_request', `--replicates: at most 100000, got ${n}`);
      const modes = listFlag('--modes', o.modes, SWEEP_MODES) as SweepMode[];
      const baselines = listFlag('--baseline', o.baseline, SWEEP_BASELINES, true) as SweepBaseline[];
      if (o.payload !== undefined && o.payloadFile !== undefined)
        throw new AgniError('bad_request', '--payload and --payload-file: pass one of them');
      const payload =
        o.payloadFile !== undefined
          ? await readFile(o.payloadFile).catch((e: Error) => {
              throw new AgniError('bad_request', `--payload-file ${o.payloadFile}: ${e.message}`);
            })
          : Buffer.from(o.payload ?? '');
      const volumes = parseVolumeFlags(o.volume ?? []);
      const fnDir = resolve(dir);
      const csvPath = resolve(o.csv ?? `agni-sweep-${basename(fnDir)}.csv`);
      const client = o.publish ? new ApiClient() : undefined;
      const quiet = o.json === true || !process.stderr.isTTY;
      const bar = quiet
        ? undefined
        : stderrBar('sweep {bar} {value}/{total} replicates | {label} | ETA {eta_formatted}');
      // Loaded on use: it pulls in the whole embedded server, which other verbs never need.
      const { runSweep } = await import('../../bench/sweep.js');
      let started = false;
      const stopBar = () => bar?.stop();
      // Ctrl-C ends the batch in flight and closes the scratch instances (no sandbox left behind).
      const stop = new AbortController();
      const onSignal = () => stop.abort();
      process.once('SIGINT', onSignal);
      process.once('SIGTERM', onSignal);
      const result = await runSweep({
        dir: fnDir,
        levels,
        n,
        modes,
        baselines,
        payload,
        csvPath,
        resume: o.resume === true,
        volumes,
        rootfs: o.rootfs,
        signal: stop.signal,
        onProgress: (done, total, label) => {
          if (!bar) return;
          if (!started) {
            started = true;
            bar.start(total, done, { label: 'starting' });
          } else bar.update(done, { label });
        },
      }).finally(() => {
        stopBar();
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      });
      const s = result.summary;
      if (result.interrupted) {
        process.stderr.write(
          `interrupted: ${result.rows.length} replicates in ${csvPath}; continue with --resume --csv ${csvPath}\n`,
        );
        process.exitCode = 130;
        return;
      }
      if (result.resumed > 0 && !quiet)
        process.stderr.write(`resumed: ${result.resumed} replicates from ${csvPath}\n`);
      if (o.svgDir) {
        await mkdir(o.svgDir, { recursive: true });
        for (const m of s.metrics) await writeFile(join(o.svgDir, svgFileName(m)), sweepSvg(s, m));
      }
      if (o.md) await writeFile(o.md, sweepMarkdown(s));
      if (typeof o.json === 'string') await writeFile(o.json, `${JSON.stringify(s, null, 2)}\n`);
      if (client) {
        const r = await client.json<{ id: string }>('POST', '/v1/bench/sweeps', s);
        if (o.json !== true) process.stderr.write(`published: ${r.id} (dashboard: ${client.url}/ui/bench)\n`);
      }
      if (o.json === true) return printJson(s);
      process.stdout.write(`${sweepMarkdown(s)}\n`);
      process.stderr.write(
        `csv: ${csvPath}${o.svgDir ? `\ncharts: ${o.svgDir}` : ''}${o.md ? `\nreport: ${o.md}` : ''}\n`,
      );
    });
}
