/**
 * Errors that mean "the database is away" (down, restarting, unreachable), not "this request is
 * wrong": the API answers them 503 with Retry-After, and the pool reconnects by itself once the
 * database is back. Everything else stays what it was.
 */
import { AgniError } from '../core/errors.js';

/** what a client should wait before trying again while the store is away */
export const STORE_RETRY_AFTER_S = 5;

/** socket errors of a connection that could not be made or was cut */
const SOCKET_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'EHOSTDOWN',
  'ENETUNREACH',
  'ENETDOWN',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * SQLSTATEs of a server going away: admin_shutdown (57P01, a restart), crash_shutdown (57P02),
 * cannot_connect_now (57P03, starting up), too_many_connections (53300); class 08 is connection
 * exceptions.
 */
const SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);

/** node-postgres says these in words, without a code */
const MESSAGES =
  /Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Connection is closed|the database system is (starting up|shutting down|in recovery mode)/i;

export function isStoreUnavailable(err: unknown, depth = 0): boolean {
  if (!err || typeof err !== 'object' || depth > 4) return false;
  const e = err as { code?: unknown; message?: unknown; cause?: unknown; errors?: unknown };
  const code = typeof e.code === 'string' ? e.code : '';
  if (SOCKET_CODES.has(code) || SQLSTATES.has(code) || /^08[0-9A-Z]{3}$/.test(code)) return true;
  if (typeof e.message === 'string' && MESSAGES.test(e.message)) return true;
  // Node's connect to several addresses fails with an AggregateError; Kysely may wrap the cause.
  if (Array.isArray(e.errors) && e.errors.some((x) => isStoreUnavailable(x, depth + 1))) return true;
  return isStoreUnavailable(e.cause, depth + 1);
}

export function storeUnavailable(cause?: unknown): AgniError {
  return new AgniError('store_unavailable', 'the state store (PostgreSQL) cannot be reached just now', {
    hint: `nothing was done; retry after ${STORE_RETRY_AFTER_S} s (the Retry-After header): the server reconnects by itself once the database is back`,
    details: { retry_after_s: STORE_RETRY_AFTER_S },
    cause,
  });
}
