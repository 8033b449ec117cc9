/**
 * What an invoke route takes from the HTTP request besides the payload: the request's context for
 * the function (credentials removed) and a per-call timeout (`Agni-Timeout`).
 */
import type { FastifyRequest } from 'fastify';
import { parseCallTimeout, TIMEOUT_HEADER } from '../core/call-timeout.js';
import { type RequestContext, requestContext } from '../core/request-context.js';

export interface CallOptions {
  request: RequestContext;
  timeoutMs?: number;
}

/** `secrets`: the server token, a webhook's secret; a header holding one never reaches the function. */
export function callOptions(req: FastifyRequest, secrets: (string | undefined)[]): CallOptions {
  const timeoutMs = parseCallTimeout(req.headers[TIMEOUT_HEADER]);
  const request = requestContext(
    { method: req.method, url: req.raw.url ?? req.url, rawHeaders: req.raw.rawHeaders },
    // The token the request came with (a named one included) is masked wherever it appears.
    [...secrets, req.credential].filter((s): s is string => s !== undefined),
  );
  return { request, ...(timeoutMs !== undefined ? { timeoutMs } : {}) };
}
