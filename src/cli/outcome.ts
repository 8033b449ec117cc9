/** Turns a finished invocation's status into the CLI error (and so the exit code) it deserves. */
import { AgniError, type ErrorCode } from '../core/errors.js';
import type { InvocationRecord } from '../store/store.js';
import type { ApiClient } from './client.js';

const CODES: Record<string, ErrorCode> = {
  timeout: 'timeout',
  oom: 'out_of_memory',
  failed: 'function_failed',
};

export function outcomeError(
  what: string,
  status: string,
  exitCode: number,
  id: string | undefined,
  context = '',
  stderrTail = '',
): AgniError {
  return new AgniError(
    CODES[status] ?? 'sandbox_error',
    `${what} ${status}${context}${Number.isInteger(exitCode) ? ` (exit code ${exitCode})` : ''}`,
    {
      hint: `see \`agni inspect ${id}\``,
      details: { exit_code: exitCode, stderr_tail: stderrTail },
    },
  );
}

/**
 * outcomeError with the invocation's stderr tail, fetched from its record: once output has
 * streamed, the answer's trailers carry only the status, and the user needs to see why it failed.
 */
export async function failedOutcome(
  client: ApiClient,
  what: string,
  status: string,
  exitCode: number,
  id: string | undefined,
  context = '',
): Promise<AgniError> {
  let tail = '';
  if (id) {
    try {
      const r = await client.json<InvocationRecord>('GET', `/v1/invocations/${encodeURIComponent(id)}`);
      tail = r.stderrTail.slice(-2048);
    } catch {
      // the failure itself is still worth reporting without its stderr
    }
  }
  return outcomeError(what, status, exitCode, id, context, tail);
}
