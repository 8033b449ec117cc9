/**
 * What `agni pipe` does, imported only when it runs (lazy-action.ts); its arguments, options and help
 * are in pipe.ts.
 */
import { AgniError, ERROR_STATUS, type ErrorCode } from '../../core/errors.js';
import { ApiClient, errorFromBody } from '../client.js';
import { failedOutcome } from '../outcome.js';
import { payloadSource } from '../payload.js';
import { timeoutHeader } from '../timeout-flag.js';

export async function pipe(names: string[], o: { data?: string; timeout?: string }): Promise<void> {
  const extra = timeoutHeader(o.timeout);
  const body = await payloadSource(o.data);
  const query = names.map((n) => `f=${encodeURIComponent(n)}`).join('&');
  try {
    const client = new ApiClient();
    const res = await client.request('POST', `/v1/pipe?${query}`, body, 'application/vnd.agni.stream', extra);
    if (res.status !== 200) throw errorFromBody(res.status, await client.readAll(res.body));
    for await (const chunk of res.body) {
      if (!process.stdout.write(chunk as Buffer)) await new Promise((r) => process.stdout.once('drain', r));
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
}
