/**
 * Routes for images from registries. Pull and push answer with NDJSON: progress events as they
 * happen, then one `done` (with the result) or `error` line, since the status is sent up front.
 */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { AgniError, isAgniError } from '../core/errors.js';
import { parsePlatform } from '../image/oci/platform.js';
import type { OciImages } from '../image/oci/pull-service.js';
import { parseReference } from '../image/oci/reference.js';
import { jsonRequest } from './json-body.js';
import { ProgressThrottle } from './progress-throttle.js';

export const PullBody = z.object({
  ref: z.string().min(1),
  platform: z.string().optional(),
  insecure: z.boolean().optional(),
});
export const PushBody = z.object({
  name: z.string().min(1),
  ref: z.string().min(1),
  insecure: z.boolean().optional(),
});
export const LoginBody = z.object({
  registry: z.string().min(1),
  username: z.string().min(1),
  password: z.string().min(1),
  insecure: z.boolean().optional(),
});
export const LogoutBody = z.object({ registry: z.string().min(1) });

async function ndjson(
  reply: FastifyReply,
  run: (emit: (e: object) => void) => Promise<object>,
): Promise<void> {
  reply.hijack();
  const res = reply.raw;
  res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-store' });
  const throttle = new ProgressThrottle();
  const emit = (e: object & { type?: string }) => {
    if (e.type === 'blob' && !throttle.pass(e)) return;
    res.write(`${JSON.stringify(e)}\n`);
  };
  try {
    const result = await run(emit);
    res.write(`${JSON.stringify({ type: 'done', result })}\n`);
  } catch (e) {
    const err = isAgniError(e) ? e : new AgniError('internal', (e as Error).message);
    res.write(`${JSON.stringify({ type: 'error', ...err.toJSON() })}\n`);
  }
  res.end();
}

export function registerImageRegistryRoutes(app: FastifyInstance, oci: OciImages | undefined): void {
  const need = (): OciImages => {
    if (!oci) throw new AgniError('backend_unavailable', 'this server has no registry support');
    return oci;
  };
  // Listing, inspecting and removing images: image-insight-routes.ts.
  app.post('/v1/oci/pull', async (req, reply) => {
    const o = need();
    const b = jsonRequest(req, PullBody);
    // Bad input fails with a proper status before the stream starts.
    parseReference(b.ref);
    if (b.platform) parsePlatform(b.platform);
    await ndjson(reply, (emit) =>
      o.pull(b.ref, { platform: b.platform, insecure: b.insecure, onEvent: emit }),
    );
  });

  app.post('/v1/oci/push', async (req, reply) => {
    const o = need();
    const b = jsonRequest(req, PushBody);
    parseReference(b.ref);
    await ndjson(reply, (emit) => o.push(b.name, b.ref, { insecure: b.insecure, onEvent: emit }));
  });

  app.post('/v1/registries/login', async (req) => {
    const b = jsonRequest(req, LoginBody);
    const registry = await need().login(
      b.registry,
      { username: b.username, password: b.password },
      b.insecure,
    );
    return { registry, username: b.username };
  });

  app.post('/v1/registries/logout', async (req) => {
    const b = jsonRequest(req, LogoutBody);
    return { registry: b.registry, removed: await need().logout(b.registry) };
  });
}
