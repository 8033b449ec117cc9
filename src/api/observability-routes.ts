/**
 * GET /metrics (Prometheus text format) and GET /openapi.json (every route of this server, from
 * the route table in route-docs.ts and the zod schemas the routes validate with). Both need the
 * API's token like any route: a Prometheus scrape config sends it as a bearer token.
 */
import type { FastifyInstance } from 'fastify';
import { openApiDocument } from './openapi.js';

export interface MetricsRenderer {
  render(): Promise<{ contentType: string; body: string }>;
}

export interface RegisteredRoute {
  method: string;
  url: string;
}

export function registerObservabilityRoutes(
  app: FastifyInstance,
  d: { metrics?: MetricsRenderer; routes: RegisteredRoute[] },
): void {
  if (d.metrics) {
    const metrics = d.metrics;
    app.get('/metrics', async (_req, reply) => {
      const { contentType, body } = await metrics.render();
      reply.type(contentType);
      return body;
    });
  }
  // Built once, on first request: by then every route is registered.
  let doc: object | undefined;
  app.get('/openapi.json', async () => {
    doc ??= openApiDocument(d.routes);
    return doc;
  });
}
