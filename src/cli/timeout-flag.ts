/** `--timeout` on invoke and pipe: checked here, sent as the `Agni-Timeout` header. */
import { TIMEOUT_HEADER } from '../core/call-timeout.js';
import { AgniError } from '../core/errors.js';
import { parseDuration } from '../core/units.js';

export const TIMEOUT_HELP =
  "end the call after this long (e.g. 2s, 500ms): at most the function's limits.timeout";

export function timeoutHeader(flag: string | undefined): Record<string, string> {
  if (flag === undefined) return {};
  const ms = parseDuration(flag);
  if (typeof ms === 'string')
    throw new AgniError('bad_request', `--timeout: expected ${ms}, got ${JSON.stringify(flag)}`, {
      hint: 'e.g. `agni invoke NAME --timeout 2s`',
    });
  return { [TIMEOUT_HEADER]: `${ms}ms` };
}
