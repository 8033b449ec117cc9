import type { Command } from 'commander';
import { AgniError } from '../../core/errors.js';
import { renderWaterfall, totalMs } from '../../core/phases.js';
import { formatBytes, formatMs } from '../../core/units.js';
import type { InvocationRecord } from '../../store/store.js';
import { ApiClient, errorFromBody } from '../client.js';
import { followLogs } from '../follow-logs.js';
import { failedOutcome } from '../outcome.js';
import { ago, printJson, printTable } from '../output.js';
import { readPayload } from '../payload.js';
import { TIMEOUT_HELP, timeoutHeader } from '../timeout-flag.js';
import { submitAsync } from './async.js';

interface InvokeOptions {
  data?: string;
  async?: boolean;
  idempotencyKey?: string;
  callback?: string;
  json?: boolean;
  timeout?: string;
}

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
    .action(async (name: string, o: InvokeOptions) => {
      const extra = timeoutHeader(o.timeout);
      const payload = await readPayload(o.data);
      if (o.async || o.idempotencyKey || o.callback) {
        if (!o.async) throw new AgniError('bad_request', '--idempotency-key and --callback need --async');
        await submitAsync(name, payload, o, extra);
        return;
      }
      const client = new ApiClient();
      const res = await client.request(
        'POST',
        `/v1/functions/${encodeURIComponent(name)}/invoke`,
        payload,
        'application/octet-stream',
        extra,
      );
      if (res.status !== 200) throw errorFromBody(res.status, await client.readAll(res.body));
      for await (const chunk of res.body) {
        if (!process.stdout.write(chunk as Buffer)) await new Promise((r) => process.stdout.once('drain', r));
      }
      // Output already streamed: the final status arrives as a trailer, the stderr in the record.
      const status = res.body.trailers['agni-status'] ?? res.headers['agni-status'] ?? 'succeeded';
      if (status !== 'succeeded') {
        const id = res.headers['agni-invocation-id'];
        const exit = Number(res.body.trailers['agni-exit-code']);
        throw await failedOutcome(client, name, String(status), exit, String(id), ' after writing output');
      }
    });

  program
    .command('inspect')
    .argument('<id>', 'invocation id')
    .description('show one invocation: status, phase waterfall, output tails')
    .option('--json', 'print as JSON')
    .addHelpText('after', '\nExample:\n  agni inspect inv-m1abc2def0123456789ab')
    .action(async (id: string, o: { json?: boolean }) => {
      const r = await new ApiClient().json<InvocationRecord>(
        'GET',
        `/v1/invocations/${encodeURIComponent(id)}`,
      );
      if (o.json) return printJson(r);
      const out = process.stdout;
      const via = r.alias ? ` (alias ${r.alias})` : '';
      out.write(
        `invocation  ${r.id}\nfunction    ${r.function} v${r.version}${via}\nstatus      ${r.status}`,
      );
      out.write(`${r.exitCode === null ? '' : ` (exit ${r.exitCode})`}${r.error ? ` ${r.error}` : ''}\n`);
      out.write(`node        ${r.node || '-'} (${r.backend || '-'})\n`);
      if (r.timeoutMs !== null && r.timeoutMs !== undefined)
        out.write(
          `timeout     ${formatMs(r.timeoutMs)}${r.deadline ? ` (deadline ${new Date(r.deadline).toISOString()})` : ''}\n`,
        );
      out.write(
        `payload     ${formatBytes(r.payloadBytes)}, stdout ${formatBytes(r.stdoutBytes)}, stderr ${formatBytes(r.stderrBytes)}\n\n`,
      );
      out.write(`${renderWaterfall(r.phases)}\n`);
      if (r.stderrTail)
        out.write(
          `\nstderr (last ${formatBytes(Buffer.byteLength(r.stderrTail))}):\n${r.stderrTail.replace(/\n?$/, '\n')}`,
        );
      if (r.stdoutTail)
        out.write(
          `\nstdout (last ${formatBytes(Buffer.byteLength(r.stdoutTail))}):\n${r.stdoutTail.replace(/\n?$/, '\n')}`,
        );
    });

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
    .action(async (name: string | undefined, o: { limit: string; json?: boolean; follow?: boolean }) => {
      if (o.follow) return followLogs(new ApiClient(), name, o.json ?? false);
      const path = name ? `/v1/functions/${encodeURIComponent(name)}/invocations` : '/v1/invocations';
      const { invocations } = await new ApiClient().json<{ invocations: InvocationRecord[] }>(
        'GET',
        `${path}?limit=${encodeURIComponent(o.limit)}`,
      );
      if (o.json) return printJson(invocations);
      printTable(
        ['ID', 'FUNCTION', 'VERSION', 'ALIAS', 'STATUS', 'EXIT', 'DURATION', 'STDOUT', 'STARTED'],
        invocations.map((r) => {
          const t = totalMs(r.phases);
          return [
            r.id,
            r.function,
            r.version,
            r.alias ?? '-',
            r.status,
            r.exitCode ?? '-',
            t === undefined ? '-' : formatMs(t),
            formatBytes(r.stdoutBytes),
            ago(r.createdAt),
          ];
        }),
      );
    });
}
