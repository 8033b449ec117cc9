import type { Command } from 'commander';
import { lazyAction } from '../lazy-action.js';
import { TIMEOUT_HELP } from '../timeout-flag.js';

const actions = () => import('./invoke-action.js');

export function registerInvoke(program: Command): void {
  program
    .command('invoke')
    .argument('<name>', 'function name: NAME (the live version), NAME@VERSION or NAME@ALIAS')
    .description('run a function once: payload on its stdin, its stdout streamed to yours')
    .option('-d, --data <payload>', 'payload string, or @file to read it from a file (default: stdin)')
    .option('--async', 'queue it durably and print its id at once; fetch the output with `agni result ID`')
    .option('--idempotency-key <key>', 'with --async: a resubmission with the same key returns the first id')
    .option('--callback <url>', 'with --async: POST the result as JSON to this URL when it is done')
    .option('--json', 'with --async: print the submission as JSON')
    .option('--timeout <duration>', `${TIMEOUT_HELP}; with --async, for every attempt`)
    .addHelpText(
      'after',
      '\nExamples:\n  agni invoke wordcount --data "one two three"\n  agni invoke wordcount@2 --data "one two"      # version 2\n  agni invoke wordcount@prod --data "one two"   # what the alias prod points to\n  agni invoke wordcount --data @README.md\n  agni invoke upper < in.txt | agni invoke wordcount\n  agni invoke slow --timeout 2s   # ends as a timeout (exit 124) after 2 s\n  agni invoke wordcount --async --data @big.txt   # prints an id; then: agni result ID --wait',
    )
    .action(lazyAction(async () => (await actions()).invoke));

  program
    .command('inspect')
    .argument('<id>', 'invocation id')
    .description('show one invocation: status, phase waterfall, output tails')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExample:\n  agni inspect inv-m1abc2def0123456789ab')
    .action(lazyAction(async () => (await actions()).inspect));

  program
    .command('logs')
    .argument('[name]', 'function name (default: all functions)')
    .description('list recent invocations, newest first; with -f, follow new ones live')
    .option('-n, --limit <n>', 'how many', '20')
    .option(
      '-f, --follow',
      'print each new invocation event (received, placed, finished) as it happens, until Ctrl-C',
    )
    .option('--json', 'print as JSON (with -f: one JSON event per line)')
    .addHelpText(
      'after',
      '\nExamples:\n  agni logs wordcount\n  agni logs -n 100 --json\n  agni logs -f\n  agni logs -f wordcount --json',
    )
    .action(lazyAction(async () => (await actions()).logs));
}
