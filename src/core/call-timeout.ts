/**
 * A per-call timeout (`Agni-Timeout` header, `agni invoke --timeout`): a caller may shorten the
 * function's `limits.timeout` for one call, never lengthen it. Pure.
 */
import { AgniError } from './errors.js';
import { parseDuration } from './units.js';

export const TIMEOUT_HEADER = 'agni-timeout';
const NAMED = 'header `Agni-Timeout` (agni invoke/pipe --timeout)';

/** The header's value in ms; undefined when absent. Refuses (400) a value that is not a duration. */
export function parseCallTimeout(raw: unknown): number | undefined {
  if (raw === undefined || raw === '') return undefined;
  const text = Array.isArray(raw) ? raw.join(',') : String(raw);
  const ms = parseDuration(text);
  if (typeof ms === 'string') {
    throw new AgniError('bad_request', `${NAMED}: expected ${ms}, got ${JSON.stringify(text.slice(0, 64))}`, {
      hint: 'e.g. `Agni-Timeout: 2s`, `agni invoke NAME --timeout 500ms`',
      details: { field: TIMEOUT_HEADER },
    });
  }
  return ms;
}

/**
 * The timeout a call runs with: `asked` when it is within the function's limit, else a refusal
 * (400) naming the limit. Refusing rather than clamping: a caller that asked for more than the
 * function may have must not believe it got it.
 */
export function callTimeout(asked: number | undefined, limitMs: number, fn: string): number {
  if (asked === undefined) return limitMs;
  if (asked > limitMs) {
    throw new AgniError(
      'bad_request',
      `${NAMED}: ${asked} ms is longer than ${fn}'s limits.timeout of ${limitMs} ms; a per-call timeout can only shorten it`,
      {
        hint: `ask for at most ${limitMs} ms, or raise limits.timeout in agni.yaml and deploy again`,
        details: { field: TIMEOUT_HEADER, limit_ms: limitMs },
      },
    );
  }
  return asked;
}
