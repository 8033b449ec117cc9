/**
 * /v1/secrets: function secrets. The value goes in as the raw body of a PUT (application/octet-stream
 * only: a browser cannot send that type to another site without asking first) and never comes out:
 * answers carry names, sizes, times and which functions use each.
 */
import type { FastifyInstance } from 'fastify';
import type { Secrets } from '../app/secrets.js';
import { AgniError } from '../core/errors.js';
import { MAX_SECRET_BYTES } from '../core/secret-refs.js';
import { mediaType } from './json-body.js';

const OCTETS = 'application/octet-stream';

export function registerSecretRoutes(app: FastifyInstance, secrets: Secrets): void {
  app.put<{ Params: { name: string } }>(
    '/v1/secrets/:name',
    { bodyLimit: MAX_SECRET_BYTES },
    async (req, reply) => {
      if (mediaType(req) !== OCTETS)
        throw new AgniError(
          'unsupported_media_type',
          `header \`content-type\`: this route takes ${OCTETS}, got ${mediaType(req) || 'none'}`,
          {
            details: { field: 'content-type' },
          },
        );
      const value = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const { secret, created } = await secrets.set(req.params.name, value);
      reply.status(created ? 201 : 200);
      return secret;
    },
  );
  app.get('/v1/secrets', async () => ({ secrets: await secrets.list() }));
  app.delete<{ Params: { name: string } }>('/v1/secrets/:name', async (req) => {
    await secrets.remove(req.params.name);
    return { name: req.params.name, removed: true };
  });
}
