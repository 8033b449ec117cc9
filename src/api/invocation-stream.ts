/**
 * GET /v1/invocations/stream: server-sent events, one per invocation event (received, placed,
 * finished), optionally of one function (`agni logs -f [NAME]`). Auth is the server's like any
 * route; unlike other reads it is refused cross-site too, since a page elsewhere could otherwise
 * hold a live feed open. Each stream unsubscribes when its client goes away, and all of them end
 * when the server closes (an open stream must not hold a shutdown for its grace period).
 */
import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { crossSiteProblem } from '../core/allowed-hosts.js';
import { AgniError } from '../core/errors.js';
import type { InvocationEvent, InvocationEventSource } from '../core/invocation-events.js';
import { parseQuery } from './query.js';

export const STREAM_PATH = '/v1/invocations/stream';
export const StreamQuery = z.object({
  function: z.string().min(1, 'a function name').optional(),
});

/** a comment line this often keeps proxies from closing an idle stream */
const HEARTBEAT_MS = 15_000;
/** a client that lets this much pile up unread is dropped rather than buffered without end */
const MAX_BUFFERED = 1024 * 1024;

export function sseFrame(e: InvocationEvent): string {
  return `event: ${e.type}\ndata: ${JSON.stringify(e)}\n\n`;
}

export function registerInvocationStream(app: FastifyInstance, source: InvocationEventSource): void {
  const open = new Set<() => void>();
  app.addHook('preClose', async () => {
    for (const end of [...open]) end();
  });
  app.get(STREAM_PATH, async (req, reply) => {
    const crossSite = crossSiteProblem('STREAM', req.headers as Record<string, string | undefined>);
    if (crossSite) {
      throw new AgniError('cross_origin', `refused: ${crossSite.replace('STREAM', 'event stream')}`, {
        hint: 'follow invocations with `agni logs -f`, or from a page this server serves',
      });
    }
    const q = parseQuery(req.query, StreamQuery);
    reply.hijack();
    const res = reply.raw;
    res.writeHead(200, {
      'content-type': 'text/event-stream; charset=utf-8',
      'cache-control': 'no-cache, no-transform',
      connection: 'keep-alive',
      'x-accel-buffering': 'no',
    });
    res.write(': agni invocation stream\n\n');
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      unsubscribe();
      clearInterval(heartbeat);
      open.delete(end);
      res.end();
    };
    const unsubscribe = source.subscribe((e) => {
      if (q.function !== undefined && e.function !== q.function) return;
      if (res.writableLength > MAX_BUFFERED) return end();
      res.write(sseFrame(e));
    });
    const heartbeat = setInterval(() => res.write(': keep-alive\n\n'), HEARTBEAT_MS);
    heartbeat.unref();
    open.add(end);
    req.raw.on('close', end);
    res.on('close', end);
    res.on('error', end);
  });
}
