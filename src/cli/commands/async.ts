/** Async invocations from the CLI: `result ID` and the `failed` list (`invoke --async` is in invoke.ts). */
import type { Command } from 'commander';
import { lazyAction } from '../lazy-action.js';

const actions = () => import('./async-action.js');

export function registerAsync(program: Command): void {
  program
    .command('result')
    .argument('<id>', 'id printed by `agni invoke --async`')
    .description("print an async invocation's output once it has finished")
    .option('-w, --wait', 'wait until it has finished (see --timeout)')
    .option('--timeout <duration>', 'with --wait: give up after this long', '1h')
    .option('--json', 'print status and output as JSON')
    .addHelpText(
      'after',
      `
Exit status: the function's own exit code; 75 (try again) when it has not finished yet.

Examples:
  id=$(agni invoke wordcount --async --data "a b c")
  agni result "$id" --wait
  agni result "$id" --json`,
    )
    .action(lazyAction(async () => (await actions()).result));

  program
    .command('failed')
    .argument('[function]', 'only this function')
    .description('list async invocations that failed every attempt (the dead-letter list)')
    .option('--retry <ids...>', 'queue these dead-lettered invocations again, with fresh attempts')
    .option('-n, --limit <n>', 'at most this many', '50')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  agni failed\n  agni failed wordcount --json\n  agni failed --retry inv-m1abc2def0123456789ab',
    )
    .action(lazyAction(async () => (await actions()).failed));
}
