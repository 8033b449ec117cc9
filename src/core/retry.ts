/** Retry arithmetic for async invocations and their callbacks: pure, so it is unit-tested alone. */

export interface Backoff {
  initialMs: number;
  maxMs: number;
  factor: number;
}

/** delay before attempt `failed + 1`, after `failed` failed attempts (1-based) */
export function retryDelayMs(failed: number, b: Backoff): number {
  const d = b.initialMs * b.factor ** Math.max(0, failed - 1);
  return Math.min(b.maxMs, Math.round(d));
}

export type AttemptVerdict = 'succeeded' | 'retry' | 'dead';

export function verdict(succeeded: boolean, attempts: number, maxAttempts: number): AttemptVerdict {
  if (succeeded) return 'succeeded';
  return attempts < maxAttempts ? 'retry' : 'dead';
}

/** callbacks: 1 s, 2 s, 4 s ... capped at 5 min, at most 8 tries */
export const CALLBACK_BACKOFF: Backoff = { initialMs: 1000, maxMs: 300_000, factor: 2 };
export const CALLBACK_MAX_ATTEMPTS = 8;

/**
 * What a dead-lettered invocation's record says of its end after retries: the last attempt was
 * the last (the error field otherwise still tells of the one before: "next attempt in ...").
 */
export function lastAttemptNote(
  r: { status: string; exitCode: number | null; error: string | null },
  attempt: number,
): string {
  const exit = r.exitCode === null ? '' : ` (exit ${r.exitCode})`;
  // its own error, if it had one (a sandbox error, a Lambda function's error type and message)
  const why = r.error ? `: ${r.error}` : '';
  return `attempt ${attempt} of ${attempt}, the last, ended ${r.status}${exit}${why}; no attempts left`;
}
