/**
 * One worker's Runtime API endpoint: a plain HTTP server on a Unix socket (reached from the
 * sandbox's loopback through its forward) or, on the process backend, on a host loopback port.
 * It only routes; the worker (lambda-worker.ts) owns the state.
 */
import { chmod } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { apiError, type RuntimeRoute, routeOf } from '../core/lambda.js';

export type RuntimeHandler = (route: RuntimeRoute, req: IncomingMessage, res: ServerResponse) => void;

/** Answers with Lambda's `{errorMessage, errorType}` shape. */
export function replyError(res: ServerResponse, status: number, type: string, message: string): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json' }).end(apiError(type, message));
}

export function replyAccepted(res: ServerResponse): void {
  res.writeHead(202, { 'content-type': 'application/json' }).end('{"status":"OK"}');
}

/** The body up to `max` bytes; undefined when it is longer (the rest is not kept). */
export function readBounded(req: IncomingMessage, max: number): Promise<Buffer | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let n = 0;
    req.on('data', (c: Buffer) => {
      n += c.length;
      if (n <= max) chunks.push(c);
    });
    req.once('end', () => resolve(n <= max ? Buffer.concat(chunks) : undefined));
    req.once('error', reject);
    req.once('close', () => {
      if (!req.complete) reject(new Error('the runtime closed the request before its end'));
    });
  });
}

export class RuntimeApiServer {
  private readonly server: Server;
  handler: RuntimeHandler = (_route, _req, res) =>
    replyError(res, 500, 'Runtime.Unavailable', 'the worker is not attached yet');

  constructor() {
    this.server = createServer((req, res) =>
      this.handler(routeOf(req.method ?? '', req.url ?? ''), req, res),
    );
    // `…/next` waits for an event as long as the worker is idle; a streamed response can be long.
    this.server.requestTimeout = 0;
    this.server.headersTimeout = 60_000;
    this.server.keepAliveTimeout = 24 * 3600_000;
    // The forward already holds connections to a few (loopback-forward.ts); this bounds the process backend.
    this.server.maxConnections = 16;
  }

  /** A Unix socket only root can connect to (the forward runs as root). */
  async listenSocket(path: string): Promise<void> {
    await new Promise<void>((res, rej) => {
      this.server.once('error', rej);
      this.server.listen(path, () => res());
    });
    await chmod(path, 0o600);
  }

  /** A port on the host's loopback (process backend: no isolation anyway). */
  async listenLoopback(): Promise<number> {
    await new Promise<void>((res, rej) => {
      this.server.once('error', rej);
      this.server.listen(0, '127.0.0.1', () => res());
    });
    return (this.server.address() as AddressInfo).port;
  }

  /** Stops listening (a socket file is removed) and cuts open connections, a waiting `…/next` too. */
  async close(): Promise<void> {
    if (!this.server.listening) return;
    const closed = new Promise<void>((r) => this.server.close(() => r()));
    this.server.closeAllConnections();
    await closed;
  }
}
