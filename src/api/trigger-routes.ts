/**
 * Trigger routes: the listing (GET /v1/triggers) and the public webhook endpoints
 * (POST /hooks/<path>), which skip the bearer token but check the trigger's own secret.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { AgniError } from '../core/errors.js';
import type { TriggerManager } from '../triggers/trigger-manager.js';
import { SECRET_HEADER, SIGNATURE_HEADER, webhookDenied } from '../triggers/webhook-auth.js';
import { callOptions } from './call-options.js';
import { parseQuery } from './query.js';
import { replyStreamed } from './stream-reply.js';

export const HOOKS_PREFIX = '/hooks/';

export const TriggersQuery = z.object({ function: z.string().optional() });
/** `?async`, `?async=1` or `=true` queue the call; absent, `0` or `false` run it now */
export const HookQuery = z.object({
  async: z.enum(['1', 'true', '', '0', 'false'], { message: 'expected 1 or 0' }).optional(),
});

function wantsAsync(q: unknown): boolean {
  const raw = parseQuery(q, HookQuery).async;
  return raw === '1' || raw === 'true' || raw === '';
}

export function registerTriggerRoutes(
  app: FastifyInstance,
  triggers: TriggerManager,
  /** the server token: a header holding it never reaches the function */
  token?: string,
): void {
  app.get('/v1/triggers', async (req) => {
    const fn = parseQuery(req.query, TriggersQuery).function;
    return triggers.list(fn || undefined);
  });

  app.post('/hooks/*', async (req, reply) => {
    const path = `/${(req.params as { '*': string })['*']}`;
    const target = triggers.webhook(path);
    if (!target) {
      throw new AgniError('not_found', `no webhook at POST ${HOOKS_PREFIX.slice(0, -1)}${path}`, {
        hint: 'list webhooks with `agni triggers`',
      });
    }
    const payload = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const denied = webhookDenied(target.trigger.secret, req.headers, payload);
    if (denied) {
      throw new AgniError('unauthorized', denied, {
        hint: `send the secret from agni.yaml in ${SECRET_HEADER}, or an HMAC-SHA256 of the body in ${SIGNATURE_HEADER}`,
      });
    }
    // The function sees the request (GitHub's X-GitHub-Event, the query…) but never the secret.
    const opts = callOptions(req, [token, target.trigger.secret]);
    if (wantsAsync(req.query)) {
      const key = req.headers['idempotency-key'];
      const { record, duplicate } = await triggers.submitWebhook(
        target,
        payload,
        typeof key === 'string' && key !== '' ? key.slice(0, 255) : undefined,
        opts,
      );
      const result = `/v1/invocations/${record.id}/result`;
      reply.status(202).header('location', result).header('agni-invocation-id', record.id);
      return { id: record.id, function: record.function, status: record.status, duplicate, result };
    }

    return replyStreamed(reply, (sink) =>
      triggers.invokeWebhook(target, payload, req.receivedAt, sink, opts),
    );
  });
}
