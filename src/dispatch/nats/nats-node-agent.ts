/**
 * A remote node, seen by a server's dispatcher as a NodeAgent: each run() is one call over NATS to
 * the agent's serveNodeAgent (wire.ts has the protocol). The payload streams out and the output
 * streams back under credit windows, hooks arrive as they happen, and a node that goes quiet
 * (no keepalive for SILENCE_MS) or that the heartbeat watcher declares lost ends the call at once
 * with AgniError('node_lost') naming the node: never a wait until the deadline.
 */
import { randomUUID } from 'node:crypto';
import type { Readable } from 'node:stream';
import type { Msg, NatsConnection } from 'nats';
import type { Logger } from 'pino';
import { callSubjects, runSubject } from '../../cluster/subjects.js';
import { AgniError } from '../../core/errors.js';
import type { SandboxResult } from '../../sandbox/backend.js';
import type { DispatchRequest, LocalChannel, Placement } from '../dispatch-request.js';
import type { NodeAgent, NodeInfo } from '../node-agent.js';
import { ChunkSender } from './chunk-sender.js';
import {
  bytesOf,
  errorFromWire,
  hdrs,
  INLINE_BYTES,
  KEEPALIVE_MS,
  type Meta,
  metaOf,
  parseBody,
  resultFromWire,
  SILENCE_MS,
  startBody,
  type WireError,
  type WireResult,
} from './wire.js';

export interface NatsNodeAgentOptions {
  logger: Logger;
  /** the node's sandbox backend, as its heartbeat says (default `remote`) */
  backend?: string;
  /** the heartbeat watcher's word: true once the node is lost */
  isLost?: () => boolean;
  /** `cb` runs when the node is declared lost; returns the unsubscribe */
  onLost?: (cb: () => void) => () => void;
  /** how long the node may take to accept a call (default 5 s) */
  acceptTimeoutMs?: number;
}

const EMPTY = new Uint8Array(0);

const reasonOf = (s: AbortSignal): string =>
  s.reason instanceof Error ? s.reason.message : 'stopped by the caller';

export class NatsNodeAgent implements NodeAgent {
  readonly placement: Placement;

  constructor(
    private readonly nc: NatsConnection,
    readonly info: NodeInfo,
    private readonly opts: NatsNodeAgentOptions,
  ) {
    this.placement = { node: info.node, backend: opts.backend ?? 'remote' };
  }

  private lost(what: string, why: string): AgniError {
    const node = this.info.node;
    return new AgniError('node_lost', `node ${node} was lost while ${what}: ${why}`, {
      hint: 'run it again: another node takes it (`agni nodes` shows which nodes are live)',
      details: { node },
    });
  }

  run(req: DispatchRequest, ch: LocalChannel): Promise<SandboxResult> {
    const node = this.info.node;
    const what = `${req.version.function} v${req.version.version} ran (invocation ${req.invocationId})`;
    if (this.opts.isLost?.())
      return Promise.reject(
        this.lost(`${req.version.function} v${req.version.version} was sent to it`, 'it is lost'),
      );
    const call = randomUUID().replaceAll('-', '');
    const { toAgent, toServer } = callSubjects(call);
    const log = this.opts.logger;
    const send = (meta: Meta, body: Uint8Array = EMPTY) => {
      if (!this.nc.isClosed()) this.nc.publish(toAgent, body, { headers: hdrs(meta) });
    };

    return new Promise<SandboxResult>((resolve, reject) => {
      let settled = false;
      let lastHeard = Date.now();
      // Output is handed on one chunk at a time, in order; the agent gets credit only after each.
      let delivering: Promise<void> = Promise.resolve();
      // Once the result is in, a sink that holds its chunk (a reader that stopped reading) holds
      // nothing more: the rest is handed on at once and the call ends, as a local run does.
      let ended!: () => void;
      const resultIn = new Promise<void>((r) => {
        ended = r;
      });
      const payload = new ChunkSender((seq, piece) => send({ t: 'in', seq }, piece));
      const signal = ch.io.signal;
      // A small buffered payload goes with the request, and the node runs the call without waiting.
      const inline =
        Buffer.isBuffer(ch.payload) && ch.payload.length <= INLINE_BYTES ? ch.payload : undefined;
      // The call crossed once the node's first word is in: its answer, or (the call running at once
      // with an inline payload) a hook that overtook the answer on its way to its own subscription.
      let crossed = false;
      const dispatched = () => {
        if (crossed) return;
        crossed = true;
        ch.hooks.onDispatched?.();
      };

      const finish = (outcome: () => void) => {
        if (settled) return;
        settled = true;
        clearInterval(timer);
        sub.unsubscribe();
        unLost?.();
        signal?.removeEventListener('abort', onAbort);
        payload.stop(new Error('the call ended'));
        outcome();
      };
      const fail = (e: AgniError) => {
        log.debug(
          { node, invocation: req.invocationId, code: e.code, err: e.message },
          'cluster call: failed',
        );
        finish(() => reject(e));
      };
      const nodeLost = (why: string) => {
        // Best effort: should the node still be there, it kills the call rather than run on unread.
        send({ t: 'abort', reason: `the server gave up on the call: ${why}` });
        fail(this.lost(what, why));
      };

      const onMessage = (m: Msg) => {
        lastHeard = Date.now();
        const meta = metaOf(m);
        if (!meta || settled) return;
        dispatched();
        switch (meta.t) {
          case 'out': {
            const chunk = Buffer.from(bytesOf(m));
            delivering = delivering.then(async () => {
              if (settled) return;
              try {
                if (meta.fd === 2) ch.io.onStderr(chunk);
                else {
                  const held = ch.io.onStdout(chunk);
                  if (held instanceof Promise) await Promise.race([held.catch(() => {}), resultIn]);
                }
              } catch (e) {
                log.debug(
                  { invocation: req.invocationId, err: (e as Error).message },
                  'cluster call: output sink failed',
                );
              }
              send({ t: 'ack', seq: meta.seq });
            });
            break;
          }
          case 'ack':
            payload.window.ack(meta.seq);
            break;
          case 'hook':
            if (meta.hook === 'placed') ch.hooks.onPlaced?.(meta.placement);
            else if (meta.hook === 'deadline') ch.hooks.onDeadline?.(meta.deadline);
            else if (meta.hook === 'ready') ch.hooks.onReady?.();
            else if (meta.hook === 'started') ch.hooks.onStarted?.();
            break;
          case 'end': {
            const r = resultFromWire(parseBody<WireResult>(m));
            ended();
            void delivering.then(() => {
              log.debug({ node, invocation: req.invocationId, outcome: r.outcome }, 'cluster call: done');
              finish(() => resolve(r));
            });
            break;
          }
          case 'fail': {
            const e = errorFromWire(parseBody<WireError>(m));
            ended();
            void delivering.then(() => fail(e));
            break;
          }
        }
      };
      const sub = this.nc.subscribe(toServer, { callback: (err, m) => err || onMessage(m) });
      const onAbort = () => send({ t: 'abort', reason: reasonOf(signal!) });
      signal?.addEventListener('abort', onAbort, { once: true });
      const unLost = this.opts.onLost?.(() => nodeLost('its heartbeats stopped'));
      const timer = setInterval(() => {
        send({ t: 'keepalive' });
        const quiet = Date.now() - lastHeard;
        if (quiet > SILENCE_MS) nodeLost(`no word from it for ${Math.round(quiet / 1000)}s`);
      }, KEEPALIVE_MS);

      log.debug({ node, invocation: req.invocationId, call }, 'cluster call: sending');
      const start: Meta = {
        t: 'start',
        call,
        ...(signal?.aborted ? { aborted: reasonOf(signal) } : {}),
        ...(inline ? { inline: inline.length } : {}),
      };
      this.nc
        .request(runSubject(node), startBody(req, inline), {
          headers: hdrs(start),
          timeout: this.opts.acceptTimeoutMs ?? 5_000,
        })
        .then(
          (reply) => {
            if (settled) return;
            lastHeard = Date.now();
            if (metaOf(reply)?.t !== 'accepted') return nodeLost('it did not accept the call');
            dispatched();
            if (!inline) void this.sendPayload(ch.payload, payload, send, () => settled);
          },
          (e: { code?: string; message?: string }) => {
            const why =
              e.code === '503'
                ? `nothing answers on ${runSubject(node)}`
                : `it did not accept the call in time (${e.message ?? e.code})`;
            fail(this.lost(`${req.version.function} v${req.version.version} was sent to it`, why));
          },
        );
    });
  }

  /** The payload, chunk by chunk under the window; a stream is read only as credit comes back. */
  private async sendPayload(
    src: Buffer | Readable,
    out: ChunkSender,
    send: (m: Meta) => void,
    ended: () => boolean,
  ): Promise<void> {
    if (Buffer.isBuffer(src)) {
      if (src.length > 0) await out.send(src);
    } else {
      for (;;) {
        if (ended()) return;
        const chunk = src.read() as Buffer | null;
        if (chunk !== null) {
          await out.send(chunk);
          continue;
        }
        if (src.readableEnded || src.destroyed) break;
        await new Promise<void>((resolve) => {
          const done = () => {
            src.off('readable', done);
            src.off('end', done);
            src.off('error', done);
            src.off('close', done);
            clearInterval(poll);
            resolve();
          };
          src.on('readable', done);
          src.on('end', done);
          src.on('error', done);
          src.on('close', done);
          // the call may end while the payload waits for bytes that never come
          const poll = setInterval(() => ended() && done(), KEEPALIVE_MS);
        });
      }
    }
    if (!ended()) send({ t: 'in-end', chunks: out.sent });
  }
}
