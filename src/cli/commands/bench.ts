import { availableParallelism } from 'node:os';
import type { Command } from 'commander';
import { BASELINES, COLD_MODES } from '../../bench/cold-modes.js';
import { lazyAction } from '../lazy-action.js';
import { registerBenchSweep } from './bench-sweep.js';

const actions = () => import('./bench-action.js');

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
    .action(lazyAction(async () => (await actions()).cold));

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
    .action(lazyAction(async () => (await actions()).load));
}
