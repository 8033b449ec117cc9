/** `agni bench sweep`: a function across modes and concurrency levels against the bare host. */

import type { Command } from 'commander';
import { SWEEP_BASELINES, SWEEP_MODES } from '../../bench/sweep-modes.js';
import { lazyAction } from '../lazy-action.js';
import { collect } from '../option-parsers.js';

const actions = () => import('./bench-sweep-action.js');

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
    .action(lazyAction(async () => (await actions()).sweep));
}
