/**
 * Async invocation routes: submit (202 at once), fetch the result (optionally waiting), the
 * dead-letter list and its retry.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { type AddressAllowList, NOTHING_ALLOWED, urlRefusal } from '../core/address-policy.js';
import { AgniError } from '../core/errors.js';
import { parseTarget } from '../core/qualifier.js';
import type { AsyncQueue } from '../triggers/async-queue.js';
import type { AsyncSubmitter } from '../triggers/async-types.js';
import { callOptions } from './call-options.js';
import { limitQuery, parseQuery } from './query.js';

/** the longest a `?wait=` may hold a request open */
export const MAX_WAIT_S = 600;

const waitMessage = `expected seconds from 0 to ${MAX_WAIT_S}`;
export const ResultQuery = z.object({
  wait: z.preprocess(
    (v) => (v === undefined || v === '' ? 0 : typeof v === 'string' ? Number(v) : v),
    z.number({ message: waitMessage }).min(0, waitMessage).max(MAX_WAIT_S, waitMessage),
  ),
});
export const FailedQuery = limitQuery(50).extend({ function: z.string().optional() });

function callbackUrl(v: unknown, allow: AddressAllowList): string | undefined {
  if (v === undefined || v === '') return undefined;
  const s = String(v);
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new AgniError('bad_request', 'header `agni-callback-url`: expected an http or https URL');
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new AgniError('bad_request', 'header `agni-callback-url`: expected an http or https URL');
  }
  // Names are judged by what they resolve to when the callback is sent (callbacks.ts).
  const refused = urlRefusal(u, allow);
  if (refused) {
    throw new AgniError(
      'bad_request',
      `header \`agni-callback-url\`: callback destination refused: ${refused}`,
      {
        hint: 'callbacks go to public addresses only; the operator can allow others with `agni up --callback-allow CIDR|HOST`',
        details: { field: 'callback' },
      },
    );
  }
  return s;
}

function idempotencyKey(v: unknown): string | undefined {
  if (v === undefined || v === '') return undefined;
  const s = String(v);
  if (s.length > 255) throw new AgniError('bad_request', 'header `idempotency-key`: at most 255 characters');
  return s;
}

export function registerAsyncRoutes(
  app: FastifyInstance,
  queue: AsyncQueue,
  callbackAllow: AddressAllowList = NOTHING_ALLOWED,
  /** the server token: a header holding it never reaches the function */
  token?: string,
  /** wakes `?wait=` on a settle on any server (cluster mode); default the queue's in-process one */
  settles: Pick<AsyncSubmitter, 'wait'> = queue,
): void {
  // A full queue is refused before the payload is read (submit checks again, atomically).
  const room = { onRequest: async () => queue.assertRoom() };
  app.post<{ Params: { name: string } }>('/v1/functions/:name/async', room, async (req, reply) => {
    const { name, qualifier } = parseTarget(req.params.name, 'path `NAME`');
    const payload = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const { record, duplicate } = await queue.submit({
      function: name,
      qualifier,
      payload,
      idempotencyKey: idempotencyKey(req.headers['idempotency-key']),
      callbackUrl: callbackUrl(req.headers['agni-callback-url'], callbackAllow),
      source: 'api',
      ...callOptions(req, [token]),
    });
    const result = `/v1/invocations/${record.id}/result`;
    reply.status(202).header('location', result).header('agni-invocation-id', record.id);
    return {
      id: record.id,
      function: record.function,
      version: record.version,
      alias: record.alias,
      status: record.status,
      duplicate,
      result,
    };
  });

  app.get<{ Params: { id: string } }>('/v1/invocations/:id/async', async (req) => {
    const s = await queue.state(req.params.id);
    if (!s) throw notAsync(req.params.id);
    return s.state;
  });

  app.get<{ Params: { id: string } }>('/v1/invocations/:id/result', async (req, reply) => {
    const id = req.params.id;
    const { wait } = parseQuery(req.query, ResultQuery);
    if (!(await queue.state(id))) throw notAsync(id);
    await settles.wait(id, wait * 1000);
    const s = (await queue.state(id))!;
    const { state, record } = s;
    reply
      .header('agni-invocation-id', id)
      .header('agni-status', record.status)
      .header('agni-attempts', String(state.attempts))
      .header('agni-max-attempts', String(state.maxAttempts));
    if (state.settledAt === null) {
      reply.status(202);
      return {
        id,
        function: record.function,
        status: record.status,
        attempts: state.attempts,
        max_attempts: state.maxAttempts,
        next_attempt_at: state.nextAttemptAt,
        last_error: record.error,
      };
    }
    reply
      .header('agni-exit-code', record.exitCode === null ? '' : String(record.exitCode))
      .header('agni-dead-letter', String(state.deadLetter));
    if (record.error) reply.header('agni-error', encodeURIComponent(record.error.slice(0, 500)));
    const output = await queue.output(id);
    reply.status(200).type('application/octet-stream');
    if (!output) return Buffer.alloc(0);
    const size = output.bytes;
    // The server keeps at most `agni up --max-output` bytes of an output: say when it kept less.
    reply.header('agni-output-bytes', String(record.stdoutBytes));
    if (size < record.stdoutBytes) reply.header('agni-output-truncated', String(size));
    reply.header('content-length', String(size));
    return reply.send(await output.open());
  });

  app.get('/v1/failed', async (req) => {
    const q = parseQuery(req.query, FailedQuery);
    return { failed: await queue.deadLetters({ function: q.function || undefined, limit: q.limit }) };
  });

  app.post<{ Params: { id: string } }>('/v1/failed/:id/retry', async (req, reply) => {
    await queue.retry(req.params.id);
    reply.status(202);
    return { id: req.params.id, status: 'queued' };
  });
}

function notAsync(id: string): AgniError {
  return new AgniError('invocation_not_found', `no async invocation ${id}`, {
    hint: 'results are kept for invocations submitted with `agni invoke --async`; see `agni inspect ID` for others',
  });
}
