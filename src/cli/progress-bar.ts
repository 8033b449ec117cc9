/**
 * The CLI's progress bar for long work: on stderr, block characters, gone once complete. The package
 * is loaded when a bar is first shown: a command whose stderr is no terminal never pays its load.
 */
import { createRequire } from 'node:module';
import type cliProgressTypes from 'cli-progress';

const require = createRequire(import.meta.url);

export function stderrBar(format: string): cliProgressTypes.SingleBar {
  const cliProgress = require('cli-progress') as typeof cliProgressTypes;
  return new cliProgress.SingleBar(
    {
      format,
      barCompleteChar: '█',
      barIncompleteChar: '░',
      hideCursor: true,
      clearOnComplete: true,
      stream: process.stderr,
    },
    cliProgress.Presets.shades_classic,
  );
}
