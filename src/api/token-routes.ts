/**
 * /v1/tokens: named API tokens with scopes (kind bearer, the default) and access keys for
 * AWS-signed requests (kind aws). A token or secret access key is in the create answer only.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { AccessKeys } from '../app/access-keys.js';
import type { ApiTokens } from '../app/api-tokens.js';
import { AgniError } from '../core/errors.js';
import { jsonRequest } from './json-body.js';

export const CreateToken = z.union([
  z.object({ name: z.string(), kind: z.literal('aws') }).strict(),
  z
    .object({
      name: z.string(),
      kind: z.literal('bearer').optional(),
      scopes: z.array(z.string()).min(1, 'at least one scope: admin, deploy, invoke or invoke:FN,...'),
    })
    .strict(),
]);

export function registerTokenRoutes(
  app: FastifyInstance,
  tokens: ApiTokens,
  keys: AccessKeys | undefined,
): void {
  app.post('/v1/tokens', async (req, reply) => {
    const body = jsonRequest(req, CreateToken);
    // Never cached or logged on the way out: this is the one time the secret leaves the server.
    reply.status(201).header('cache-control', 'no-store');
    const taken = async (name: string) =>
      (await tokens.list()).some((t) => t.name === name) ||
      ((await keys?.list()) ?? []).some((k) => k.name === name);
    if (await taken(body.name))
      throw new AgniError('conflict', `a token named ${body.name} exists`, {
        hint: `revoke it first with \`agni token revoke ${body.name}\`, or choose another name`,
        details: { field: 'name' },
      });
    if ('scopes' in body) return tokens.create(body.name, body.scopes);
    if (!keys) throw new AgniError('backend_unavailable', 'this server keeps no AWS access keys');
    return keys.create(body.name);
  });
  app.get('/v1/tokens', async () => {
    const all = [...(await tokens.list()), ...((await keys?.list()) ?? [])];
    return { tokens: all.sort((a, b) => a.name.localeCompare(b.name)) };
  });
  app.delete<{ Params: { name: string } }>('/v1/tokens/:name', async (req) => {
    const name = req.params.name;
    if (await tokens.revoke(name)) return { name, kind: 'bearer', removed: true };
    if (keys && (await keys.list()).some((k) => k.name === name)) {
      await keys.remove(name);
      return { name, kind: 'aws', removed: true };
    }
    throw new AgniError('not_found', `no token named ${name}`, { hint: 'list them with `agni token ls`' });
  });
}
