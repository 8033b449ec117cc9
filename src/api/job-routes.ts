/** HTTP routes of fan-out jobs (`agni map`, `agni jobs`). The engine is JobRunner. */
import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { AgniError } from '../core/errors.js';
import type { AsyncOutput } from '../triggers/async-types.js';
import type { JobRunner } from '../triggers/jobs.js';
import { MAX_JOB_CONCURRENCY } from '../triggers/jobs-inputs.js';
import { jsonRequest } from './json-body.js';
import { limitQuery, parseQuery, wholeNumber, wholeNumberOr } from './query.js';

export interface JobRouteDeps {
  jobs?: JobRunner;
}

const fnName = z.string().min(1, 'a function name');
const concurrency = z
  .number()
  .int('a whole number')
  .min(1, 'at least 1')
  .max(MAX_JOB_CONCURRENCY, `at most ${MAX_JOB_CONCURRENCY}`);

export const createSchema = z
  .object({
    function: fnName,
    concurrency: concurrency.default(4),
    reduce: fnName.optional(),
    output_to: z.string().min(1, 'VOLUME:/directory, e.g. results:/run-1').max(1100).optional(),
  })
  .strict();
export const refsSchema = z
  .object({ ref: z.string().min(1, 'VOLUME:/glob, e.g. data:/shards/*.smi').max(4096) })
  .strict();
export const startSchema = z.object({ more_inputs: z.boolean().optional() }).strict();
export const retrySchema = z.object({ concurrency: concurrency.optional() }).strict();

const ITEM_STATUSES = ['pending', 'running', 'succeeded', 'failed', 'settled'] as const;
export const JobsQuery = limitQuery(20);
export const ItemsQuery = z.object({
  status: z.enum(ITEM_STATUSES, { message: `expected one of ${ITEM_STATUSES.join(', ')}` }).optional(),
  from: wholeNumber(0, Number.MAX_SAFE_INTEGER),
  since: wholeNumber(0, Number.MAX_SAFE_INTEGER),
  limit: wholeNumberOr(1, 10_000, 1000),
  wait: wholeNumberOr(0, 60, 0),
});

function intParam(v: unknown, name: string, min: number, max: number, dflt?: number): number | undefined {
  if (v === undefined || v === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max)
    throw new AgniError('bad_request', `\`${name}\`: expected a whole number from ${min} to ${max}`);
  return n;
}

async function sendOutput(
  reply: FastifyReply,
  output: AsyncOutput,
  headers: Record<string, string>,
): Promise<FastifyReply> {
  reply.headers({ ...headers, 'content-length': String(output.bytes) }).type('application/octet-stream');
  return reply.send(await output.open());
}

export function registerJobRoutes(app: FastifyInstance, d: JobRouteDeps): void {
  const jobs = d.jobs;
  if (!jobs) return;

  app.post('/v1/jobs', async (req, reply) => {
    const { output_to, ...body } = jsonRequest(req, createSchema);
    const job = await jobs.create({ ...body, ...(output_to === undefined ? {} : { outputTo: output_to }) });
    reply.status(201);
    return job;
  });

  app.get('/v1/jobs', async (req) => {
    const { limit } = parseQuery(req.query, JobsQuery);
    return { jobs: await jobs.list(limit) };
  });

  app.get<{ Params: { id: string } }>('/v1/jobs/:id', async (req) => jobs.get(req.params.id));

  // One input per request (raw body), or with `agni-input-split: lines` one per non-blank line.
  app.post<{ Params: { id: string } }>('/v1/jobs/:id/inputs', async (req, reply) => {
    const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const split = req.headers['agni-input-split'];
    if (split !== undefined && split !== 'lines')
      throw new AgniError(
        'bad_request',
        `header \`agni-input-split\`: expected \`lines\` (got ${String(split)})`,
      );
    const rawName = req.headers['agni-input-name'];
    let name: string | undefined;
    if (typeof rawName === 'string') {
      try {
        name = decodeURIComponent(rawName);
      } catch {
        throw new AgniError('bad_request', 'header `agni-input-name`: not valid percent-encoding');
      }
    }
    const r = await jobs.addInputs(req.params.id, body, { name, lines: split === 'lines' });
    reply.status(201);
    return r;
  });

  // Files already on a volume (`VOLUME:/glob`), by reference: nothing is uploaded.
  app.post<{ Params: { id: string } }>('/v1/jobs/:id/refs', async (req, reply) => {
    const { ref } = jsonRequest(req, refsSchema);
    const r = await jobs.addRefs(req.params.id, ref);
    reply.status(201);
    return r;
  });

  app.delete<{ Params: { id: string } }>('/v1/jobs/:id', async (req) => jobs.remove(req.params.id));

  // With more_inputs, items run while inputs are still added; POST .../close says none are left.
  app.post<{ Params: { id: string } }>('/v1/jobs/:id/start', async (req) => {
    // A bodiless start (what every client sent before more_inputs existed) is still a plain start,
    // whatever Content-Type it names; a body must be JSON.
    const empty = !Buffer.isBuffer(req.body) || req.body.length === 0;
    const body = empty ? {} : jsonRequest(req, startSchema);
    return jobs.start(req.params.id, { moreInputs: body.more_inputs === true });
  });

  app.post<{ Params: { id: string } }>('/v1/jobs/:id/close', async (req) => jobs.closeInputs(req.params.id));

  app.post<{ Params: { id: string } }>('/v1/jobs/:id/retry-failed', async (req) => {
    const { concurrency: c } = jsonRequest(req, retrySchema);
    return jobs.retryFailed(req.params.id, c);
  });

  app.get<{ Params: { id: string } }>('/v1/jobs/:id/items', async (req) => {
    const q = parseQuery(req.query, ItemsQuery);
    const items = await jobs.items(
      req.params.id,
      { status: q.status, from: q.from, since: q.since, limit: q.limit },
      q.wait * 1000,
    );
    return { items };
  });

  app.get<{ Params: { id: string; index: string } }>(
    '/v1/jobs/:id/items/:index/output',
    async (req, reply) => {
      const index = intParam(req.params.index, 'index', 0, Number.MAX_SAFE_INTEGER)!;
      const { item, output } = await jobs.itemOutput(req.params.id, index);
      return sendOutput(reply, output, {
        'agni-item-status': item.status,
        'agni-invocation-id': item.invocationId ?? '',
      });
    },
  );

  app.get<{ Params: { id: string } }>('/v1/jobs/:id/reduce/output', async (req, reply) => {
    const { job, output } = await jobs.reduceOutput(req.params.id);
    return sendOutput(reply, output, {
      'agni-reduce-status': job.reduceStatus ?? '',
      'agni-invocation-id': job.reduceInvocation ?? '',
    });
  });
}
