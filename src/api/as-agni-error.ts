/** Any error a route or hook threw, as the AgniError the client is shown (one rule for every error handler). */
import type { FastifyBaseLogger } from 'fastify';
import { AgniError, isAgniError } from '../core/errors.js';
import { isNatsUnavailable, natsUnavailable } from '../events/nats-unavailable.js';
import { isStoreUnavailable, storeUnavailable } from '../store/store-errors.js';

export function asAgniError(err: unknown, maxPayloadBytes: number, log: FastifyBaseLogger): AgniError {
  if (isAgniError(err)) return err;
  if ((err as { code?: string }).code === 'FST_ERR_CTP_BODY_TOO_LARGE') {
    return new AgniError(
      'payload_too_large',
      `the request body is larger than the limit of ${maxPayloadBytes} bytes`,
      {
        hint: 'send a smaller payload, or raise AGNI_MAX_PAYLOAD on the server',
      },
    );
  }
  // The database is away (down, restarting): the client retries; the pool reconnects by itself.
  if (isStoreUnavailable(err)) {
    log.warn({ err: (err as Error).message }, 'the state store cannot be reached');
    return storeUnavailable(err);
  }
  // NATS is restarting or unreachable (cluster mode): the same, for the bus, queue and blobs.
  if (isNatsUnavailable(err)) {
    log.warn({ err: (err as Error).message }, 'NATS cannot be reached');
    return natsUnavailable(err);
  }
  const status = (err as { statusCode?: number }).statusCode;
  if (status && status < 500) return new AgniError('bad_request', (err as Error).message);
  log.error({ err }, 'request failed');
  return new AgniError('internal', 'internal error; see the server log');
}
