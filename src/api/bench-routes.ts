/**
 * GET /v1/bench/latest: the newest result of each benchmark, as the bench scripts wrote them
 * (bench/results/NAME-latest.json), for the dashboard's charts. Read-only; a file that is not
 * JSON is skipped, never an error, since a benchmark may be writing it right now.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';

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

export function registerBenchRoutes(app: FastifyInstance, dir = DEFAULT_BENCH_DIR): void {
  app.get('/v1/bench/latest', async () => ({ results: await latestBenchResults(dir) }));
}
