/**
 * Every body reaches routes as a Buffer (the invoke route needs raw bytes), so JSON routes parse
 * and validate here, and a bad body names the field that is wrong.
 */
import type { z } from 'zod';
import { AgniError } from '../core/errors.js';

export function jsonBody<T extends z.ZodTypeAny>(
  body: unknown,
  schema: T,
  what = 'request body',
): z.infer<T> {
  let raw: unknown = {};
  if (Buffer.isBuffer(body) && body.length > 0) {
    try {
      raw = JSON.parse(body.toString('utf8'));
    } catch {
      throw new AgniError('bad_request', `${what}: not valid JSON`, {
        hint: 'send Content-Type: application/json with a JSON object',
      });
    }
  } else if (body && typeof body === 'object' && !Buffer.isBuffer(body)) raw = body;
  const r = schema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    const field = issue.path.map(String).join('.') || '(body)';
    throw new AgniError('bad_request', `${what}: field \`${field}\`: ${issue.message}`, {
      details: { field },
    });
  }
  return r.data;
}
