/** `agni pipe A B C`: a UNIX pipe across sandboxes, streamed end to end through the server. */
import type { Command } from 'commander';
import { lazyAction } from '../lazy-action.js';

const actions = () => import('./pipe-action.js');

export function registerPipe(program: Command): void {
  program
    .command('pipe')
    .argument(
      '<functions...>',
      'the stages, in order (NAME, NAME@VERSION or NAME@ALIAS): the first reads the input, the last writes to your stdout',
    )
    .description(
      "stream data through functions, each in its own sandbox, like a shell pipe: each stage's stdout is the next one's stdin",
    )
    .option('-d, --data <payload>', 'input string, or @file to stream a file (default: stdin)')
    .option(
      '--timeout <duration>',
      "end every stage after this long (e.g. 10s): at most each stage's limits.timeout",
    )
    .addHelpText(
      'after',
      `
Every stage runs at once and holds a slot, so a pipe can have at most as many stages as the
server has slots. The stages start before your input's first byte (a stage that writes before it
reads streams at once); an input that sends nothing for the server's upload idle period (agni up
--upload-idle, 30s by default), before its first byte or between two, stops the pipe (exit 74). Nothing is buffered whole: data moves as fast as the slowest stage reads it.
A warm function (lifecycle: warm) as a stage reads its whole input first, up to the server's
payload limit. If a stage fails, the stages after it see the end of their input and finish, the
stages before it are stopped, and the exit code is the failing stage's.

Examples:
  agni pipe upper wordcount --data "to be or not to be"
  agni pipe upper@2 wordcount@prod --data "to be or not to be"
  zcat big.csv.gz | agni pipe parse filter summarize > summary.json
  agni pipe smiles-grep smiles-count --data @molecules.smi
  agni pipe fetch parse --timeout 10s   # every stage ends after 10 s at most`,
    )
    .action(lazyAction(async () => (await actions()).pipe));
}
