/**
 * Errors that mean "NATS is away" (restarting, unreachable, JetStream not answering yet), not
 * "this request is wrong": like a database outage, the API answers them 503 with Retry-After
 * instead of a bare 500, and nats.js reconnects by itself once NATS is back.
 */
import { AgniError } from '../core/errors.js';

/** what a client should wait before trying again while NATS is away */
export const NATS_RETRY_AFTER_S = 2;

/** nats.js ErrorCode values of a connection or request that NATS could not serve just now */
const CODES = new Set([
  'TIMEOUT',
  'DISCONNECT',
  'CONNECTION_CLOSED',
  'CONNECTION_REFUSED',
  'CONNECTION_TIMEOUT',
  'CONNECTION_DRAINING',
  // no responders: JetStream's API is not up yet after a restart
  '503',
]);

export function isNatsUnavailable(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const e = err as { name?: unknown; code?: unknown };
  return e.name === 'NatsError' && typeof e.code === 'string' && CODES.has(e.code);
}

export function natsUnavailable(cause?: unknown): AgniError {
  return new AgniError('nats_unavailable', 'the cluster bus (NATS) cannot be reached just now', {
    hint: `retry after ${NATS_RETRY_AFTER_S} s (the Retry-After header): the server reconnects by itself once NATS is back`,
    details: { retry_after_s: NATS_RETRY_AFTER_S },
    cause,
  });
}
