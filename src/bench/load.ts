/**
 * `agni bench load`: closed-loop load over HTTP. At each concurrency level, that many clients
 * invoke the function back to back for a fixed time; every request's latency is recorded.
 */
import http from 'node:http';
import type { ApiClient } from '../cli/client.js';
import { stamp } from '../core/phases.js';
import type { LoadLevel } from './load-report.js';
import { quantile, summarize } from './stats.js';

export interface LoadOptions {
  function: string;
  levels: number[];
  durationMs: number;
  payload: Buffer;
  onProgress?(level: number, done: number, elapsedMs: number): void;
}

function invokeOnce(
  agent: http.Agent,
  url: URL,
  headers: Record<string, string>,
  payload: Buffer,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      { method: 'POST', agent, headers: { ...headers, 'content-length': String(payload.length) } },
      (res) => {
        res.resume();
        res.on('end', () => resolve(res.statusCode ?? 0));
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

export async function runLoad(client: ApiClient, o: LoadOptions): Promise<LoadLevel[]> {
  return runLoadAt(client.url, client.authHeaders(), o);
}

/** The same load against any server answering `POST /v1/functions/NAME/invoke` (e.g. the ceiling). */
export async function runLoadAt(
  base: string,
  auth: Record<string, string>,
  o: LoadOptions,
): Promise<LoadLevel[]> {
  const url = new URL(`${base}/v1/functions/${encodeURIComponent(o.function)}/invoke`);
  const headers: Record<string, string> = { 'content-type': 'application/octet-stream', ...auth };
  const out: LoadLevel[] = [];
  for (const c of o.levels) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: c });
    const lat: number[] = [];
    let ok = 0;
    let refused = 0;
    let failed = 0;
    const t0 = stamp();
    const end = t0 + o.durationMs;
    const worker = async () => {
      while (stamp() < end) {
        const s = stamp();
        let status: number;
        try {
          status = await invokeOnce(agent, url, headers, o.payload);
        } catch {
          status = 0;
        }
        if (status === 200) {
          ok++;
          lat.push(stamp() - s);
        } else if (status === 429) refused++;
        else failed++;
        o.onProgress?.(c, ok + refused + failed, stamp() - t0);
      }
    };
    await Promise.all(Array.from({ length: c }, worker));
    const seconds = (stamp() - t0) / 1000;
    agent.destroy();
    const sorted = [...lat].sort((a, b) => a - b);
    out.push({
      concurrency: c,
      requests: ok + refused + failed,
      ok,
      refused,
      failed,
      seconds,
      throughput: ok / seconds,
      latency: { ...summarize(lat), p99: quantile(sorted, 0.99) },
    });
  }
  return out;
}
