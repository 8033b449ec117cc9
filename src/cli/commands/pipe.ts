/** `agni pipe A B C`: a UNIX pipe across sandboxes, streamed end to end through the server. */
import type { Command } from 'commander';
import { AgniError, ERROR_STATUS, type ErrorCode } from '../../core/errors.js';
import { ApiClient, errorFromBody } from '../client.js';
import { failedOutcome } from '../outcome.js';
import { payloadSource } from '../payload.js';
import { timeoutHeader } from '../timeout-flag.js';

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
    .action(async (names: string[], o: { data?: string; timeout?: string }) => {
      const extra = timeoutHeader(o.timeout);
      const body = await payloadSource(o.data);
      const query = names.map((n) => `f=${encodeURIComponent(n)}`).join('&');
      try {
        const client = new ApiClient();
        const res = await client.request(
          'POST',
          `/v1/pipe?${query}`,
          body,
          'application/vnd.agni.stream',
          extra,
        );
        if (res.status !== 200) throw errorFromBody(res.status, await client.readAll(res.body));
        for await (const chunk of res.body) {
          if (!process.stdout.write(chunk as Buffer))
            await new Promise((r) => process.stdout.once('drain', r));
        }
        // Output already streamed: the outcome and the stage it failed on arrive as trailers.
        const t = res.body.trailers;
        const status = t['agni-status'] ?? res.headers['agni-status'] ?? 'succeeded';
        // The server stopped the pipe itself (e.g. the input sent nothing for its upload idle period).
        const code = t['agni-error-code'];
        if (status === 'error' && code && code in ERROR_STATUS)
          throw new AgniError(code as ErrorCode, String(t['agni-error'] ?? code));
        if (status !== 'succeeded') {
          const stage = Number(t['agni-failed-stage']);
          const what = `pipe stage ${stage} (${names[stage - 1] ?? '?'})`;
          const id = t['agni-failed-invocation'];
          throw await failedOutcome(
            client,
            what,
            String(status),
            Number(t['agni-exit-code']),
            id,
            ' after output had started',
          );
        }
      } finally {
        // The server may answer before it read all the input (an error, a stage that stopped early).
        if (!Buffer.isBuffer(body)) body.destroy();
      }
    });
}
