/**
 * GET /v1/bench/latest: the newest result of each benchmark, as the bench scripts wrote them
 * (bench/results/NAME-latest.json), for the dashboard's charts. Read-only; a file that is not
 * JSON is skipped, never an error, since a benchmark may be writing it right now.
 *
 * POST /v1/bench/sweeps takes the summary `agni bench sweep --publish` made (a sweep runs its own
 * scratch instances, maybe on another machine); GET /v1/bench/sweeps/latest gives the newest back.
 * They live in the state store, so every server of a cluster shows the same one.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { BenchSweepRepository } from '../store/bench-sweep-repo.js';
import { jsonRequest } from './json-body.js';

/** bench/results of the checkout this server runs from (this file runs as dist/src/api/bench-routes.js) */
export const DEFAULT_BENCH_DIR = fileURLToPath(new URL('../../../bench/results/', import.meta.url));

const LATEST = /^([a-z0-9][a-z0-9_-]*)-latest\.json$/;
/** a result larger than this is not one the bench scripts write; it is left out, not read whole */
const MAX_RESULT_BYTES = 4 * 1024 * 1024;

export interface BenchResult {
  /** the file's NAME part: core, map, pull… */
  name: string;
  /** what the file holds, as written */
  result: unknown;
}

export async function latestBenchResults(dir: string): Promise<BenchResult[]> {
  const names = await readdir(dir).catch(() => [] as string[]);
  const out: BenchResult[] = [];
  for (const f of names.sort()) {
    const m = LATEST.exec(f);
    if (!m) continue;
    const text = await readFile(join(dir, f), 'utf8').catch(() => undefined);
    if (text === undefined || text.length > MAX_RESULT_BYTES) continue;
    try {
      out.push({ name: m[1]!, result: JSON.parse(text) });
    } catch {
      // half-written or hand-edited: shown once it is whole again
    }
  }
  return out;
}

const num = z.number();
/** one metric × mode × level of a sweep summary (src/bench/sweep-summary.ts SweepCell) */
const SweepCellBody = z
  .object({
    metric: z.string().min(1).max(100),
    mode: z.string().min(1).max(40),
    concurrency: z.number().int().min(1),
    n: z.number().int().min(0),
    failed: z.number().int().min(0).optional(),
    median: num,
    p90: num,
    q1: num,
    q3: num,
    min: num,
    max: num,
    mean: num.optional(),
    ratio_to_host: num.nullable().optional(),
  })
  .strict();

/** what `agni bench sweep --json` prints (src/bench/sweep-summary.ts SweepSummary) */
export const SweepSummaryBody = z
  .object({
    kind: z.literal('agni-bench-sweep'),
    function: z.string().min(1).max(200),
    date: z.string().refine((d) => !Number.isNaN(Date.parse(d)), 'a date (ISO 8601)'),
    n: z.number().int().min(1),
    levels: z.array(z.number().int().min(1)).min(1).max(100),
    modes: z.array(z.string().min(1).max(40)).min(1).max(20),
    metrics: z.array(z.string().min(1).max(100)).max(500),
    cells: z.array(SweepCellBody).max(50_000),
    notes: z.array(z.string().max(2000)).max(50),
  })
  .strict();

export function registerBenchRoutes(
  app: FastifyInstance,
  dir = DEFAULT_BENCH_DIR,
  sweeps?: BenchSweepRepository,
): void {
  app.get('/v1/bench/latest', async () => ({ results: await latestBenchResults(dir) }));
  if (!sweeps) return;
  // The body is bounded by the server's payload limit (agni up --max-payload); cells are numbers.
  app.post('/v1/bench/sweeps', async (req, reply) => {
    const s = jsonRequest(req, SweepSummaryBody);
    const stored = await sweeps.add(s.function, s);
    reply.code(201);
    return { id: stored.id, function: stored.function, createdAt: stored.createdAt };
  });
  app.get('/v1/bench/sweeps/latest', async () => ({ sweep: (await sweeps.latest()) ?? null }));
}
