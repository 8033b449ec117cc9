/**
 * Drain and resume, as NATS requests on `agni.cluster.node.<name>.ctl`. The agent answers once the
 * new state holds (and is saved); a drained agent takes no new calls, lets running ones finish,
 * and says `draining` in its heartbeats until resumed, across restarts.
 */
import type { NatsConnection, Subscription } from 'nats';
import type { Logger } from 'pino';
import { z } from 'zod';
import { AgniError, type ErrorCode } from '../core/errors.js';

export const nodeControlSubject = (node: string): string => `agni.cluster.node.${node}.ctl`;

export type NodeControlOp = 'drain' | 'resume';

export interface NodeControl {
  /** stops taking new calls, and saves that; resolves once it holds (not when running calls end) */
  drain(): Promise<void>;
  resume(): void;
  state(): 'ready' | 'draining';
}

const Request = z.object({ op: z.enum(['drain', 'resume']) });

export type NodeControlReply =
  | { node: string; state: 'ready' | 'draining' }
  | { error: { code: ErrorCode; message: string } };

/** The agent side: answers drain/resume requests for node `name`. */
export function serveNodeControl(
  nc: NatsConnection,
  name: string,
  control: NodeControl,
  opts: { logger?: Logger } = {},
): { close(): Promise<void> } {
  const answer = (reply: NodeControlReply) => new TextEncoder().encode(JSON.stringify(reply));
  const sub: Subscription = nc.subscribe(nodeControlSubject(name), {
    callback: (err, msg) => {
      if (err) {
        opts.logger?.warn({ err }, 'node control subscription failed');
        return;
      }
      void (async () => {
        let req: z.infer<typeof Request>;
        try {
          req = Request.parse(JSON.parse(new TextDecoder().decode(msg.data)));
        } catch {
          msg.respond(
            answer({ error: { code: 'bad_request', message: 'expected {"op": "drain" | "resume"}' } }),
          );
          return;
        }
        try {
          if (req.op === 'drain') await control.drain();
          else control.resume();
          opts.logger?.info({ node: name, op: req.op }, 'node control');
          msg.respond(answer({ node: name, state: control.state() }));
        } catch (e) {
          opts.logger?.error({ err: e, node: name, op: req.op }, 'node control failed');
          msg.respond(
            answer({
              error: {
                code: e instanceof AgniError ? e.code : 'internal',
                message: e instanceof Error ? e.message : String(e),
              },
            }),
          );
        }
      })();
    },
  });
  return {
    close: async () => {
      sub.unsubscribe();
    },
  };
}

/** The server side: asks node `name` to drain or resume; its state after, or an AgniError. */
export async function sendNodeControl(
  nc: NatsConnection,
  name: string,
  op: NodeControlOp,
  timeoutMs = 5000,
): Promise<{ node: string; state: 'ready' | 'draining' }> {
  let data: Uint8Array;
  try {
    const msg = await nc.request(nodeControlSubject(name), JSON.stringify({ op }), { timeout: timeoutMs });
    data = msg.data;
  } catch (e) {
    throw new AgniError('no_node', `node ${name} did not answer the ${op} request: ${(e as Error).message}`, {
      hint: 'is its agent running and connected to NATS? `agni nodes` shows when it was last heard from',
      details: { node: name },
      cause: e,
    });
  }
  const reply = JSON.parse(new TextDecoder().decode(data)) as NodeControlReply;
  if ('error' in reply) throw new AgniError(reply.error.code, `node ${name}: ${reply.error.message}`);
  return reply;
}
