/**
 * What `agni invoke`, `agni inspect` and `agni logs` do, imported only when one of them runs
 * (lazy-action.ts); their arguments, options and help are in invoke.ts.
 */
import { AgniError } from '../../core/errors.js';
import { renderWaterfall, totalMs } from '../../core/phases.js';
import { formatBytes, formatMs } from '../../core/units.js';
import type { InvocationRecord } from '../../store/store.js';
import { ApiClient, errorFromBody } from '../client.js';
import { followLogs } from '../follow-logs.js';
import { failedOutcome } from '../outcome.js';
import { ago, printJson, printTable } from '../output.js';
import { readPayload } from '../payload.js';
import { timeoutHeader } from '../timeout-flag.js';
import { submitAsync } from './async-action.js';

interface InvokeOptions {
  data?: string;
  async?: boolean;
  idempotencyKey?: string;
  callback?: string;
  json?: boolean;
  timeout?: string;
}

export async function invoke(name: string, o: InvokeOptions): Promise<void> {
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
}

export async function inspect(id: string, o: { json?: boolean }): Promise<void> {
  const r = await new ApiClient().json<InvocationRecord>('GET', `/v1/invocations/${encodeURIComponent(id)}`);
  if (o.json) return printJson(r);
  const out = process.stdout;
  const via = r.alias ? ` (alias ${r.alias})` : '';
  out.write(`invocation  ${r.id}\nfunction    ${r.function} v${r.version}${via}\nstatus      ${r.status}`);
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
}

export async function logs(
  name: string | undefined,
  o: { limit: string; json?: boolean; follow?: boolean },
): Promise<void> {
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
}
