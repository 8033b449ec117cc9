/**
 * Every body reaches routes as a Buffer (the invoke route needs raw bytes), so JSON routes parse
 * and validate here, and a bad body names the field that is wrong.
 */
import type { FastifyRequest } from 'fastify';
import type { z } from 'zod';
import { AgniError } from '../core/errors.js';

export const JSON_TYPE = 'application/json';

/** The media type of a request (`text/plain; charset=x` gives `text/plain`), '' when absent. */
export function mediaType(req: FastifyRequest): string {
  return String(req.headers['content-type'] ?? '')
    .split(';')[0]!
    .trim()
    .toLowerCase();
}

/**
 * The body of a JSON route, parsed and checked. Only `application/json` is taken: a browser may
 * send text/plain (or a form) to any site without asking first, never application/json. A request
 * with neither a body nor a Content-Type is an empty object.
 */
export function jsonRequest<T extends z.ZodTypeAny>(req: FastifyRequest, schema: T): z.infer<T> {
  const type = mediaType(req);
  const empty = !Buffer.isBuffer(req.body) || req.body.length === 0;
  if (type !== JSON_TYPE && !(type === '' && empty)) {
    throw new AgniError(
      'unsupported_media_type',
      `header \`content-type\`: this route takes ${JSON_TYPE}, got ${type || 'none'}`,
      { hint: `send the body as JSON with Content-Type: ${JSON_TYPE}`, details: { field: 'content-type' } },
    );
  }
  return jsonBody(req.body, schema);
}

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
        hint: `send Content-Type: ${JSON_TYPE} with a JSON object`,
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
