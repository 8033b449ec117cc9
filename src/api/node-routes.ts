/** /v1/nodes: the nodes that run calls (the cluster's agents, or `agni up`'s own), drain and resume. */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { NodeAdmin } from '../cluster/node-admin.js';
import { jsonRequest } from './json-body.js';

type Named = { Params: { name: string } };

/** drain and resume take no body (or an empty JSON object): a browser's form post is still refused */
const NoBody = z.object({}).strict();

export function registerNodeRoutes(app: FastifyInstance, nodes: NodeAdmin): void {
  app.get('/v1/nodes', async () => ({ nodes: nodes.list() }));
  app.post<Named>('/v1/nodes/:name/drain', async (req) => {
    jsonRequest(req, NoBody);
    return nodes.drain(req.params.name);
  });
  app.post<Named>('/v1/nodes/:name/resume', async (req) => {
    jsonRequest(req, NoBody);
    return nodes.resume(req.params.name);
  });
}
