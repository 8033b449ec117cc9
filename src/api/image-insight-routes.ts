/**
 * Routes for `agni image ls|inspect|rm|prune|similarity`. Image names are OCI references with
 * slashes and colons, so clients send them URI-encoded in one path segment. `kind` (rootfs|oci)
 * picks one when a name means both a local rootfs image and an OCI image.
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { AgniError } from '../core/errors.js';
import type { ImageInsight, ImageKind } from '../image/image-insight.js';
import { jsonRequest } from './json-body.js';
import { parseQuery } from './query.js';

export const PruneBody = z.object({ all: z.boolean().optional(), dryRun: z.boolean().optional() });

export const KindQuery = z.object({
  kind: z.preprocess(
    (v) => (v === '' ? undefined : v),
    z.enum(['rootfs', 'oci'], { message: 'expected rootfs or oci' }).optional(),
  ),
});
export const SimilarityQuery = z.object({ images: z.string().optional() });

function kindOf(q: unknown): ImageKind | undefined {
  return parseQuery(q, KindQuery).kind;
}

export function registerImageInsightRoutes(app: FastifyInstance, insight: ImageInsight | undefined): void {
  const need = (): ImageInsight => {
    if (!insight) throw new AgniError('backend_unavailable', 'this server has no image store');
    return insight;
  };

  app.get('/v1/oci/images', async () => need().list());

  app.get<{ Params: { name: string } }>('/v1/oci/images/:name/inspect', async (req) =>
    need().inspect(req.params.name, kindOf(req.query)),
  );

  app.delete<{ Params: { name: string } }>('/v1/oci/images/:name', async (req) =>
    need().remove(req.params.name, kindOf(req.query)),
  );

  app.post('/v1/oci/prune', async (req) => {
    const b = jsonRequest(req, PruneBody);
    return need().prune(b);
  });

  app.get('/v1/oci/similarity', async (req) => {
    const raw = parseQuery(req.query, SimilarityQuery).images ?? '';
    const names = raw
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean);
    return need().similarity(names);
  });
}
