/** Turns a finished invocation's status into the CLI error (and so the exit code) it deserves. */
import { AgniError, type ErrorCode } from '../core/errors.js';

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
): AgniError {
  return new AgniError(
    CODES[status] ?? 'sandbox_error',
    `${what} ${status}${context}${Number.isInteger(exitCode) ? ` (exit code ${exitCode})` : ''}`,
    {
      hint: `see \`agni inspect ${id}\``,
      details: { exit_code: exitCode },
    },
  );
}
