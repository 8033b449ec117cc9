/** The CLI's progress bar for long work: on stderr, block characters, gone once complete. */
import cliProgress from 'cli-progress';

export function stderrBar(format: string): cliProgress.SingleBar {
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
