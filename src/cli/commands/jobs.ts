import type { Command } from 'commander';
import { lazyAction } from '../lazy-action.js';

const actions = () => import('./jobs-action.js');

export function registerJobs(program: Command): void {
  const jobs = program
    .command('jobs')
    .description('list fan-out jobs (from `agni map`), newest first')
    .option('-n, --limit <n>', 'how many', '20')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  agni jobs\n  agni jobs -n 100 --json\n  agni jobs show job-m1abc2def0123456789ab',
    )
    .action(lazyAction(async () => (await actions()).list));

  jobs
    .command('rm')
    .argument('<id>', 'job id')
    .description('forget a finished (or never started) job: its items and stored inputs')
    .addHelpText('after', '\nExample:\n  agni jobs rm job-m1abc2def0123456789ab')
    .action(lazyAction(async () => (await actions()).remove));

  jobs
    .command('show')
    .argument('<id>', 'job id')
    .description('one job: counts, rate, timings, reduce, and its failed inputs')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  agni jobs show job-m1abc2def0123456789ab\n  agni jobs show job-m1abc2def0123456789ab --json',
    )
    .action(lazyAction(async () => (await actions()).show));
}
