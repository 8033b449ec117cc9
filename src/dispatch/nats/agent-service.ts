/**
 * The agent's side of sync calls over NATS: it answers `agni.cluster.node.<name>.run`, runs each
 * call on its local NodeAgent (usually queued behind the node's own LocalDispatcher), and streams
 * the call's hooks, output and result back with the protocol of wire.ts. A server silent for
 * SILENCE_MS is taken as gone: its calls are killed, so nothing runs on for a caller that left.
 */
import type { Msg, NatsConnection, Subscription } from 'nats';
import type { Logger } from 'pino';
import { callSubjects, runSubject } from '../../cluster/subjects.js';
import { AgniError } from '../../core/errors.js';
import type { SandboxResult } from '../../sandbox/backend.js';
import type { DispatchRequest } from '../dispatch-request.js';
import type { NodeAgent } from '../node-agent.js';
import { ChunkSender } from './chunk-sender.js';
import { InboundPayload, wholePayload } from './inbound-payload.js';
import {
  bytesOf,
  errorToWire,
  hdrs,
  jsonBody,
  KEEPALIVE_MS,
  type Meta,
  metaOf,
  parseStart,
  resultToWire,
  SILENCE_MS,
} from './wire.js';

export interface ServeOptions {
  logger: Logger;
  /** rewrites a request for this node before it runs (code distribution: the local code dir or image) */
  prepare?: (req: DispatchRequest) => Promise<DispatchRequest>;
}

export interface NodeService {
  /** settles once NATS has the subscription: from then on, calls reach this node */
  ready: Promise<void>;
  /** the calls running now, with what their payloads hold on this side (for tests and stats) */
  calls(): { invocationId: string; maxPendingBytes: number }[];
  /** stops answering, kills the calls still running (their callers get their results) and waits for them */
  close(): Promise<void>;
}

const EMPTY = new Uint8Array(0);

/** One call on this agent: its subscription, its two streams and its keepalive. */
class ServedCall {
  readonly ctl = new AbortController();
  readonly payload: InboundPayload;
  private readonly out: ChunkSender;
  private readonly sub: Subscription;
  private lastHeard = Date.now();
  private readonly subjects: { toAgent: string; toServer: string };

  constructor(
    private readonly nc: NatsConnection,
    readonly call: string,
    readonly request: DispatchRequest,
    aborted: string | undefined,
    private readonly logger: Logger,
    /** the whole payload, when it came in the start message */
    private readonly inline?: Buffer,
  ) {
    this.subjects = callSubjects(call);
    this.payload = new InboundPayload((seq) => this.send({ t: 'ack', seq }));
    this.out = new ChunkSender((seq, piece, fd) => this.send({ t: 'out', seq, fd: fd === 2 ? 2 : 1 }, piece));
    this.sub = nc.subscribe(this.subjects.toAgent, { callback: (err, m) => err || this.onMessage(m) });
    if (aborted !== undefined) this.abort(aborted);
  }

  private send(meta: Meta, body: Uint8Array = EMPTY): void {
    if (this.nc.isClosed()) return;
    this.nc.publish(this.subjects.toServer, body, { headers: hdrs(meta) });
  }

  private onMessage(m: Msg): void {
    this.lastHeard = Date.now();
    const meta = metaOf(m);
    switch (meta?.t) {
      case 'in':
        this.payload.deliver(Buffer.from(bytesOf(m)));
        break;
      case 'in-end':
        this.payload.finish();
        break;
      case 'ack':
        this.out.window.ack(meta.seq);
        break;
      case 'abort':
        this.abort(meta.reason);
        break;
    }
  }

  abort(reason: string): void {
    if (!this.ctl.signal.aborted) this.ctl.abort(new AgniError('sandbox_error', reason));
  }

  async run(local: NodeAgent, prepare: ServeOptions['prepare']): Promise<void> {
    const timer = setInterval(() => {
      this.send({ t: 'keepalive' });
      if (Date.now() - this.lastHeard > SILENCE_MS) {
        // The caller is gone: nobody will read the output or send the rest of the payload.
        this.logger.warn(
          { invocation: this.request.invocationId },
          'cluster call: the server went silent, killing the call',
        );
        this.abort('the server that made this call stopped answering');
        this.out.stop(new Error('the server is gone'));
        this.payload.finish();
      }
    }, KEEPALIVE_MS);
    const id = this.request.invocationId;
    try {
      const req = prepare ? await prepare(this.request) : this.request;
      const payload =
        this.inline ?? (req.payload.kind === 'buffer' ? await wholePayload(this.payload) : this.payload);
      this.logger.debug({ invocation: id, fn: req.version.function }, 'cluster call: running');
      const r: SandboxResult = await local.run(req, {
        payload,
        io: {
          onStdout: (c) => this.out.send(c, 1),
          onStderr: (c) => void this.out.send(c, 2),
          signal: this.ctl.signal,
        },
        hooks: {
          onPlaced: (placement) => this.send({ t: 'hook', hook: 'placed', placement }),
          onDeadline: (deadline) => this.send({ t: 'hook', hook: 'deadline', deadline }),
          onReady: () => this.send({ t: 'hook', hook: 'ready' }),
          onStarted: () => this.send({ t: 'hook', hook: 'started' }),
        },
      });
      // The result goes after the last output chunk. The sandbox is gone, so what is left is at most
      // the chunk it was held on: it goes without credit, as a local run ends even if nobody reads.
      this.out.window.open();
      await this.out.idle();
      this.send({ t: 'end' }, jsonBody(resultToWire(r)));
      this.logger.debug({ invocation: id, outcome: r.outcome }, 'cluster call: done');
    } catch (e) {
      this.out.window.open();
      await this.out.idle();
      this.send({ t: 'fail' }, jsonBody(errorToWire(e)));
      this.logger.debug({ invocation: id, err: (e as Error).message }, 'cluster call: failed');
    } finally {
      clearInterval(timer);
      this.out.stop(new Error('the call ended'));
      this.payload.finish();
      this.payload.resume();
      this.sub.unsubscribe();
    }
  }
}

/** Serves sync calls to node `name` from `local` until close(). */
export function serveNodeAgent(
  nc: NatsConnection,
  name: string,
  local: NodeAgent,
  opts: ServeOptions,
): NodeService {
  const running = new Map<string, { call: ServedCall; done: Promise<void> }>();
  let closing = false;
  const onStart = (m: Msg) => {
    const meta = metaOf(m);
    if (meta?.t !== 'start' || closing) return;
    let request: DispatchRequest;
    let inline: Buffer | undefined;
    try {
      ({ request, inline } = parseStart<DispatchRequest>(m, meta.inline));
    } catch {
      opts.logger.warn({ call: meta.call }, 'cluster call: a start whose request is not JSON, ignored');
      return;
    }
    opts.logger.debug({ call: meta.call, invocation: request.invocationId }, 'cluster call: accepted');
    const call = new ServedCall(nc, meta.call, request, meta.aborted, opts.logger, inline);
    // Listening on the call's subject before the reply: the payload's first chunk cannot be missed.
    m.respond(EMPTY, { headers: hdrs({ t: 'accepted', node: name }) });
    const done = call.run(local, opts.prepare).finally(() => running.delete(meta.call));
    running.set(meta.call, { call, done });
  };
  const sub = nc.subscribe(runSubject(name), { callback: (err, m) => err || onStart(m) });
  let closed: Promise<void> | undefined;
  return {
    ready: nc.flush(),
    calls: () =>
      [...running.values()].map(({ call }) => ({
        invocationId: call.request.invocationId,
        maxPendingBytes: call.payload.maxPendingBytes,
      })),
    close() {
      closed ??= (async () => {
        closing = true;
        sub.unsubscribe();
        for (const { call } of running.values()) call.abort(`node ${name} is shutting down`);
        await Promise.allSettled([...running.values()].map((r) => r.done));
        if (!nc.isClosed()) await nc.flush().catch(() => {});
      })();
      return closed;
    },
  };
}
