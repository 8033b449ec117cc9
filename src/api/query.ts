/**
 * Query strings, checked with zod like JSON bodies (json-body.ts), so /openapi.json describes the
 * same rules the routes apply. A bad value names its parameter: "query `limit`: expected …".
 */
import { z } from 'zod';
import { AgniError } from '../core/errors.js';

export function parseQuery<T extends z.ZodType>(query: unknown, schema: T): z.infer<T> {
  const r = schema.safeParse(query ?? {});
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const field = issue.path.map(String).join('.') || '(query)';
    throw new AgniError('bad_request', `query \`${field}\`: ${issue.message}`, { details: { field } });
  }
  return r.data;
}

const text = (v: unknown) =>
  v === undefined || v === '' ? undefined : typeof v === 'string' ? Number(v) : v;

function whole(min: number, max: number) {
  const message = `expected a whole number from ${min} to ${max}`;
  return z.number({ message }).int({ message }).min(min, { message }).max(max, { message });
}

/** absent or empty: undefined; else a whole number from min to max (a query value is text) */
export function wholeNumber(min: number, max: number) {
  return z.preprocess(text, whole(min, max).optional());
}

/** absent or empty: `dflt`; else a whole number from min to max */
export function wholeNumberOr(min: number, max: number, dflt: number) {
  return z.preprocess((v) => text(v) ?? dflt, whole(min, max).default(dflt));
}

/** `?limit=` of the listings: 1 to 1000 */
export const limitQuery = (dflt: number) => z.object({ limit: wholeNumberOr(1, 1000, dflt) });

/** GET /v1/invocations and /v1/functions/NAME/invocations */
export const InvocationsQuery = limitQuery(20);
