import type { Command } from 'commander';
import { lazyAction } from '../lazy-action.js';

const actions = () => import('./map-action.js');

export function registerMap(program: Command): void {
  program
    .command('map')
    .argument('[function]', 'function to run once per input: NAME, NAME@VERSION or NAME@ALIAS')
    .argument('[inputs...]', 'files, directories, quoted globs, or - (default: stdin lines)')
    .description(
      'run a function over many inputs as a server-side job: outputs in input order, optional reduce',
    )
    .option('-c, --concurrency <n>', 'inputs running at once (default 4)')
    .option('-o, --out <dir>', 'write each output to DIR/<input name>.out (stdin lines: DIR/<index>.out)')
    .option('--reduce <function>', 'finally run this function on all outputs, concatenated in input order')
    .option(
      '--out-to <volume:/dir>',
      "also write each output, as it succeeds, to DIR/<input name>.out on a read-write server volume (and the reduce's to DIR/reduce.out); nothing is downloaded unless --out says so",
    )
    .option('--detach', 'print the job id and return; the job runs on without the CLI')
    .option('--json', 'print a summary object as JSON instead of outputs and progress')
    .option('--retry-failed <job>', 'run the failed inputs of a finished job again')
    .option(
      '--ref <volume:/glob>',
      "inputs by reference: files already on a server volume, e.g. 'data:/shards/*.smi' (repeatable; nothing is uploaded)",
      (v: string, prev: string[] | undefined) => [...(prev ?? []), v],
    )
    .addHelpText(
      'after',
      `
Inputs are files, the regular files of a directory (sorted by name), globs (quote them to let
agni expand them), or named pipes. With no INPUTS, or -, each non-blank line of stdin is one input.
The job starts once its first input is uploaded: inputs run while later ones still upload.
Without --out the outputs go to stdout, concatenated in input order; with --reduce only the
reduce output is printed (with --out: DIR/reduce.out, beside the per-input outputs). The job runs on the server: Ctrl-C
leaves it running (follow it with \`agni jobs show ID\`). If any input fails, the failures are
listed, the exit code is 1, and \`agni map --retry-failed JOB\` runs only those again.
With --json, outputs go only to --out (if given) and stdout gets the summary.
A job runs one version throughout: NAME is pinned to the live version when the job is created
(a deploy or rollback meanwhile does not change its later inputs); NAME@ALIAS is resolved for
each input as it starts, so moving the alias moves the rest of the job.

With --ref 'VOLUME:/glob' the inputs are files already on a volume of the server (agni up
--volume): the server expands the glob inside the volume, nothing is uploaded, and each sandbox
reads its file where it is (its path in AGNI_INPUT; on stdin with \`input: stdin\` in agni.yaml).
The function must mount the volume (agni.yaml volumes:). Outputs are named VOLUME/PATH.

With --out-to 'VOLUME:/dir' the server writes each output where the data lives, as its input
succeeds: DIR/<input name>.out on a volume the operator made writable (agni up --volume
NAME=/path:rw); an input whose output cannot be written there fails. The outputs are then not
printed (--out still downloads them; a reduce's is still printed).

Examples:
  agni map wordcount notes/*.txt
  agni map count-smiles --ref 'data:/shards/*.smi' --out results/
  agni map count-smiles --ref 'data:/shards/*.smi' --out-to 'scratch:/counts/run-1'
  agni map wordcount@prod notes/*.txt --reduce sum-counts@2
  agni map wordcount 'data/**/*.csv' -c 8 --out results/
  agni map wordcount data/ --reduce sum-counts
  cat urls.txt | agni map fetch-title -c 16 > titles.txt
  agni map thumbnail photos/ --detach
  agni map --retry-failed job-m1abc2def0123456789ab`,
    )
    .action(lazyAction(async () => (await actions()).map));
}
