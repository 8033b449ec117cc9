/** /v1/tokens: access keys for AWS-signed requests (the Lambda API). The secret is in the create answer only. */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AccessKeys } from '../app/access-keys.js';
import { jsonRequest } from './json-body.js';

export const CreateToken = z.object({
  name: z.string(),
  kind: z.literal('aws', { message: 'expected "aws" (the only kind of token so far)' }),
});

export function registerTokenRoutes(app: FastifyInstance, keys: AccessKeys): void {
  app.post('/v1/tokens', async (req, reply) => {
    const body = jsonRequest(req, CreateToken);
    const created = await keys.create(body.name);
    // Never cached or logged on the way out: this is the one time the secret leaves the server.
    reply.status(201).header('cache-control', 'no-store');
    return created;
  });
  app.get('/v1/tokens', async () => ({ tokens: await keys.list() }));
  app.delete<{ Params: { name: string } }>('/v1/tokens/:name', async (req) => {
    await keys.remove(req.params.name);
    return { name: req.params.name, removed: true };
  });
}
