/**
 * The filters of GET /v1/invocations (and /v1/functions/NAME/invocations): `function`, `status`
 * (one or several, comma-separated), `since` and `until` (milliseconds since the epoch or an
 * ISO 8601 time; since inclusive, until exclusive). The dashboard's filters and live tail use them.
 */
import { AgniError } from '../core/errors.js';
import { INVOCATION_STATUSES, type InvocationFilter, type InvocationStatus } from '../store/store.js';

function timeParam(v: string | undefined, name: string): number | undefined {
  if (v === undefined || v === '') return undefined;
  const n = /^\d+$/.test(v) ? Number(v) : Date.parse(v);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new AgniError(
      'bad_request',
      `query \`${name}\`: expected milliseconds since the epoch or an ISO 8601 time (got ${JSON.stringify(v)})`,
    );
  return n;
}

export function invocationQuery(q: unknown): InvocationFilter {
  const r = (q ?? {}) as Record<string, string | undefined>;
  const out: InvocationFilter = {};
  if (r.function) out.function = r.function;
  if (r.status) {
    const list = r.status.split(',').map((s) => s.trim());
    const bad = list.find((s) => !(INVOCATION_STATUSES as readonly string[]).includes(s));
    if (bad !== undefined)
      throw new AgniError(
        'bad_request',
        `query \`status\`: expected one or more of ${INVOCATION_STATUSES.join(', ')} (got ${JSON.stringify(bad)})`,
      );
    out.status = list as InvocationStatus[];
  }
  const since = timeParam(r.since, 'since');
  const until = timeParam(r.until, 'until');
  if (since !== undefined) out.since = since;
  if (until !== undefined) out.until = until;
  return out;
}
