/**
 * Workers of `protocol: lambda` functions: the sandbox runs a Lambda custom runtime (`bootstrap`)
 * that pulls events from the Runtime API (`GET …/invocation/next`) and posts each result
 * (`…/response`, streamed or whole) or error (`…/error`, `init/error`). The pool, deadlines,
 * limits, idle stop and replacement are warm-workers.ts's; this file speaks the protocol.
 * Everything the sandbox writes on stdout/stderr while an event is out is that invocation's log.
 */
import { randomBytes } from 'node:crypto';
import { rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { join } from 'node:path';
import { AgniError } from '../core/errors.js';
import {
  type ErrorDocument,
  errorDocument,
  eventHeaders,
  functionArn,
  lambdaEnv,
  MAX_ERROR_BYTES,
  MAX_RESPONSE_BYTES,
  platformError,
  RUNTIME_API,
  RUNTIME_API_PORT,
  type RuntimeRoute,
  traceId,
} from '../core/lambda.js';
import type { SandboxResult, SandboxSpec, WorkerExit, WorkerSandbox } from '../sandbox/backend.js';
import { onAbort } from '../sandbox/stdio.js';
import type { VersionRecord } from '../store/store.js';
import { RuntimeApiServer, readBounded, replyAccepted, replyError } from './lambda-runtime-api.js';
import type { InvocationContext } from './runner.js';
import {
  type Group,
  type PooledWorker,
  type PreparedWorker,
  retireWorker,
  type WorkerKind,
} from './warm-workers.js';

const STARTUP_LOG_MAX = 64 * 1024;
const turn = () => new Promise<void>((r) => setImmediate(r));

export interface LambdaOptions {
  /** runc: each worker's Runtime API is a Unix socket here, forwarded to the sandbox's own loopback */
  socketDir?: string;
  /** AWS_REGION / AWS_DEFAULT_REGION and the function ARN's region */
  region: string;
}

interface LambdaCall {
  inv: InvocationContext;
  /** the event was handed to the runtime */
  sent: boolean;
  /** a response or error is being received: no second one */
  answered: boolean;
  /** response bytes the caller got (a crash mid-stream then reports on stderr) */
  outBytes: number;
  timedOut: boolean;
  /** how it ended, once known (the worker may die while the last logs are read) */
  result?: SandboxResult;
  resolve(r: SandboxResult): void;
  reject(e: unknown): void;
}

class LambdaWorker implements PooledWorker {
  state: PooledWorker['state'] = 'starting';
  idleTimer: NodeJS.Timeout | undefined;
  exit: WorkerExit | undefined;
  retireReason: string | undefined;
  // Output between events is the runtime's own (Lambda logs it too): dropped, but not a reason to retire.
  strayBytes = 0;
  readonly ready: Promise<void>;
  private resolveReady!: () => void;
  private readonly startupLog: Buffer[] = [];
  private startupBytes = 0;
  /** the runtime's waiting `…/next` */
  private next: ServerResponse | undefined;
  private call: LambdaCall | undefined;
  /** the id of the last event answered: posting to it again is a state error, not an unknown id */
  private lastId: string | undefined;
  private initError: ErrorDocument | undefined;

  constructor(
    readonly sandbox: WorkerSandbox,
    readonly group: Group,
    api: RuntimeApiServer,
    private readonly arn: string,
    onExit: (w: PooledWorker) => void,
    private readonly onRetire: (w: PooledWorker) => void,
  ) {
    this.ready = new Promise((r) => (this.resolveReady = r));
    api.handler = (route, req, res) => this.handle(route, req, res);
    sandbox.stdout.on('data', (c: Buffer) => this.log(c));
    sandbox.stderr.on('data', (c: Buffer) => this.log(c));
    sandbox.stdin.on('error', () => {});
    sandbox.stdin.end();
    // The warm protocol's pipes (fds 3 and 4) are unused here.
    sandbox.requests.end();
    sandbox.completions.resume();
    void sandbox.exited.then(async (exit) => {
      this.exit = exit;
      this.state = 'dead';
      this.next = undefined;
      await api.close();
      this.resolveReady();
      const call = this.call;
      this.call = undefined;
      if (call) this.failCall(call, exit);
      onExit(this);
    });
  }

  private log(c: Buffer): void {
    const call = this.call;
    if (call?.sent) {
      call.inv.io.onStderr(c);
    } else if (this.state === 'starting') {
      if (this.startupBytes < STARTUP_LOG_MAX) this.startupLog.push(c);
      this.startupBytes += c.length;
    }
  }

  private handle(route: RuntimeRoute, req: IncomingMessage, res: ServerResponse): void {
    switch (route.kind) {
      case 'next':
        this.onNext(res);
        break;
      case 'response':
      case 'error':
        this.onAnswer(route.id, req, res, route.kind);
        break;
      case 'init-error':
        void this.onInitError(req, res);
        break;
      case 'method':
        res.setHeader('allow', route.allow);
        replyError(res, 405, 'MethodNotAllowed', `use ${route.allow}`);
        break;
      default:
        replyError(res, 404, 'NotFound', 'no such Runtime API path');
    }
  }

  private onNext(res: ServerResponse): void {
    if (this.state === 'dead') {
      replyError(res, 500, 'Runtime.Unavailable', 'the worker is stopping');
      return;
    }
    if (this.state === 'starting') {
      this.state = 'busy'; // reserved for the call that started it
      this.resolveReady();
    }
    const call = this.call;
    if (call?.sent && !call.answered) {
      // Asking for the next event without answering this one: the event is lost, so is its call.
      this.settleError(
        call,
        platformError(
          'Runtime.NoResponse',
          'the runtime asked for the next event without answering this one',
        ),
      );
    }
    if (this.next && this.next !== res)
      replyError(
        this.next,
        409,
        'Runtime.DuplicateNext',
        'another request for the next event replaced this one',
      );
    this.next = res;
    res.once('close', () => {
      if (this.next === res) this.next = undefined;
    });
    this.deliver();
  }

  /** Hands the current call's event to the waiting `…/next`, when both are there. */
  private deliver(): void {
    const call = this.call;
    const res = this.next;
    if (!call || call.sent || !res) return;
    this.next = undefined;
    call.sent = true;
    const trace = traceId(Date.now(), randomBytes(20));
    const inv = call.inv;
    const caller = inv.lambda;
    res.writeHead(
      200,
      eventHeaders({
        id: inv.id,
        deadline: inv.deadline,
        arn: this.arn,
        trace,
        ...(caller ? { caller } : {}),
      }),
    );
    res.end(call.inv.payload as Buffer);
    call.inv.hooks.onStarted?.();
  }

  /** The call `id` names, or undefined after answering the runtime why not. */
  private callFor(id: string, res: ServerResponse): LambdaCall | undefined {
    const call = this.call;
    if (call?.sent && call.inv.id === id && !call.answered) return call;
    if ((call?.inv.id === id && call.answered) || id === this.lastId) {
      replyError(res, 403, 'InvalidStateTransition', `invocation ${id} was already answered`);
    } else {
      replyError(res, 400, 'InvalidRequestID', `invocation ${id} is not the current one`);
    }
    return undefined;
  }

  private onAnswer(id: string, req: IncomingMessage, res: ServerResponse, kind: 'response' | 'error'): void {
    const call = this.callFor(id, res);
    if (!call) {
      req.resume();
      return;
    }
    call.answered = true;
    const mode = String(req.headers['lambda-runtime-function-response-mode'] ?? '').toLowerCase();
    if (kind === 'error') void this.onError(call, req, res);
    else if (mode === 'streaming') this.onStream(call, req, res);
    else void this.onBuffered(call, req, res);
  }

  private async onBuffered(call: LambdaCall, req: IncomingMessage, res: ServerResponse): Promise<void> {
    let body: Buffer | undefined;
    try {
      body = await readBounded(req, MAX_RESPONSE_BYTES);
    } catch {
      return this.settleError(
        call,
        platformError('Runtime.TruncatedResponse', 'the runtime closed its response before its end'),
      );
    }
    if (body === undefined) {
      res.setHeader('connection', 'close');
      replyError(
        res,
        413,
        'RequestEntityTooLarge',
        `Exceeded maximum allowed payload size (${MAX_RESPONSE_BYTES} bytes).`,
      );
      return this.settleError(
        call,
        platformError(
          'Function.ResponseSizeTooLarge',
          `Response payload size exceeded maximum allowed payload size (${MAX_RESPONSE_BYTES} bytes).`,
        ),
      );
    }
    replyAccepted(res);
    await this.output(call, body);
    void this.settle(call, { outcome: 'ok', exitCode: 0, signal: null });
  }

  /** `Lambda-Runtime-Function-Response-Mode: streaming`: each chunk reaches the caller as it arrives. */
  private onStream(call: LambdaCall, req: IncomingMessage, res: ServerResponse): void {
    req.on('data', (c: Buffer) => {
      if (this.call !== call) return;
      call.outBytes += c.length;
      const held = call.inv.io.onStdout(c);
      if (!(held instanceof Promise)) return;
      req.pause();
      const go = () => req.resume();
      held.then(go, go);
    });
    req.once('end', () => {
      replyAccepted(res);
      // A stream that fails midway says so in trailers (its error type and a base64 document).
      const type = req.trailers['lambda-runtime-function-error-type'];
      if (type) {
        const body = Buffer.from(String(req.trailers['lambda-runtime-function-error-body'] ?? ''), 'base64');
        return this.settleError(call, errorDocument(body, type));
      }
      void this.settle(call, { outcome: 'ok', exitCode: 0, signal: null });
    });
    req.once('close', () => {
      if (!req.complete)
        this.settleError(
          call,
          platformError(
            'Runtime.TruncatedResponse',
            'the runtime closed its streamed response before its end',
          ),
        );
    });
  }

  private async onError(call: LambdaCall, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const body = await readBounded(req, MAX_ERROR_BYTES).catch(() => Buffer.alloc(0));
    if (body === undefined) {
      res.setHeader('connection', 'close');
      replyError(res, 413, 'RequestEntityTooLarge', `error documents are at most ${MAX_ERROR_BYTES} bytes`);
      return this.settleError(
        call,
        platformError('Runtime.ErrorTooLarge', 'the runtime posted an error document over 1 MiB'),
      );
    }
    replyAccepted(res);
    this.settleError(call, errorDocument(body, headerOf(req, 'lambda-runtime-function-error-type')));
  }

  /** `init/error`: the runtime cannot start; the call that started it gets the document. */
  private async onInitError(req: IncomingMessage, res: ServerResponse): Promise<void> {
    if (this.state !== 'starting') {
      req.resume();
      return replyError(
        res,
        403,
        'InvalidStateTransition',
        'init/error is only accepted before the first event',
      );
    }
    const body = (await readBounded(req, MAX_ERROR_BYTES).catch(() => undefined)) ?? Buffer.alloc(0);
    this.initError ??= errorDocument(body, headerOf(req, 'lambda-runtime-function-error-type'));
    replyAccepted(res);
    this.retire('its runtime reported an init error');
    void this.sandbox.kill();
  }

  /** The response: the caller's output. */
  private async output(call: LambdaCall, body: Buffer): Promise<void> {
    call.outBytes += body.length;
    if (body.length > 0) await call.inv.io.onStdout(body);
  }

  /**
   * A failed call carries its error document on the result, not on stdout: the caller's status is
   * then still the failure's (a streamed response that had started gets it in its log too).
   */
  private failure(call: LambdaCall, doc: ErrorDocument, exit?: WorkerExit): SandboxResult {
    if (call.outBytes > 0) call.inv.io.onStderr(Buffer.concat([doc.body, Buffer.from('\n')]));
    return {
      outcome: 'failed',
      exitCode: exit?.exitCode ?? null,
      signal: exit?.signal ?? null,
      functionError: doc.errorType,
      errorDocument: doc.body,
    };
  }

  private settleError(call: LambdaCall, doc: ErrorDocument): void {
    void this.settle(call, this.failure(call, doc));
  }

  /** Ends the call once the logs written before its answer were read (two turns poll every pipe). */
  private async settle(call: LambdaCall, r: SandboxResult): Promise<void> {
    if (this.call !== call || call.result) return;
    call.result = r;
    await turn();
    await turn();
    if (this.call !== call) return; // the worker died meanwhile: its exit resolved the call
    this.call = undefined;
    this.lastId = call.inv.id;
    call.resolve(r);
  }

  private failCall(call: LambdaCall, exit: WorkerExit): void {
    if (call.result) {
      call.resolve(call.result);
      return;
    }
    if (exit.error) {
      call.reject(new AgniError('sandbox_error', `lambda worker ${this.sandbox.id}: ${exit.error}`));
      return;
    }
    if (exit.note) call.inv.io.onStderr(Buffer.from(exit.note));
    if (call.timedOut || exit.outcome === 'oom') {
      const outcome = call.timedOut ? 'timeout' : 'oom';
      call.resolve({
        outcome,
        exitCode: exit.exitCode,
        signal: exit.signal ?? (call.timedOut ? 'SIGKILL' : null),
      });
      return;
    }
    call.resolve(this.failure(call, exitDocument(call.inv.id, exit), exit));
  }

  retire(reason: string): void {
    retireWorker(this, reason, this.onRetire);
  }

  async leftovers(): Promise<string | undefined> {
    return this.retireReason;
  }

  async afterReady(): Promise<void> {}

  startFailed(inv: InvocationContext, exit: WorkerExit): SandboxResult {
    for (const c of this.startupLog) inv.io.onStderr(c);
    if (exit.note) inv.io.onStderr(Buffer.from(exit.note));
    if (exit.outcome === 'oom' && !this.initError)
      return { outcome: 'oom', exitCode: exit.exitCode, signal: exit.signal };
    const doc = this.initError ?? exitDocument(inv.id, exit, 'before asking for an event');
    return {
      outcome: 'failed',
      exitCode: exit.exitCode,
      signal: exit.signal,
      functionError: doc.errorType,
      errorDocument: doc.body,
    };
  }

  send(inv: InvocationContext): Promise<SandboxResult> {
    if (!Buffer.isBuffer(inv.payload))
      return Promise.reject(new AgniError('sandbox_error', 'a lambda worker takes its payload as a buffer'));
    return new Promise<SandboxResult>((resolve, reject) => {
      const kill = () => {
        call.timedOut = true;
        void this.sandbox.kill();
      };
      const timer = setTimeout(kill, Math.max(0, inv.deadline - Date.now()));
      // Aborting a call ends it like its deadline: the worker (and with it the call) is killed.
      const unabort = onAbort(inv.io.signal, kill);
      const clear = () => {
        clearTimeout(timer);
        unabort();
      };
      const call: LambdaCall = {
        inv,
        sent: false,
        answered: false,
        outBytes: 0,
        timedOut: false,
        resolve: (r) => {
          clear();
          resolve(r);
        },
        reject: (e) => {
          clear();
          reject(e);
        },
      };
      this.call = call;
      this.deliver();
    });
  }
}

function headerOf(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}

/** Lambda's document for a runtime that exited: `Runtime.ExitError`. */
function exitDocument(id: string, exit: WorkerExit, when = ''): ErrorDocument {
  const how = exit.signal ? `signal: ${exit.signal}` : `exit status ${exit.exitCode ?? 'unknown'}`;
  const msg = `RequestId: ${id} Error: Runtime exited${when ? ` ${when}` : ''} with error: ${how}`;
  return platformError('Runtime.ExitError', msg);
}

/** Makes the Runtime API endpoint of each new worker and the sandbox spec that reaches it. */
export class LambdaKind implements WorkerKind {
  constructor(private readonly o: LambdaOptions) {
    // Sockets of a previous, crashed run: nothing listens on them any more.
    if (o.socketDir) rmSync(o.socketDir, { recursive: true, force: true });
  }

  async prepare(spec: SandboxSpec, v: VersionRecord): Promise<PreparedWorker> {
    const api = new RuntimeApiServer();
    let address = RUNTIME_API;
    let forward: SandboxSpec['loopbackForward'];
    try {
      if (this.o.socketDir) {
        await mkdir(this.o.socketDir, { recursive: true, mode: 0o700 });
        const socket = join(this.o.socketDir, `${spec.id}.sock`);
        await api.listenSocket(socket);
        forward = { port: RUNTIME_API_PORT, socket };
      } else {
        address = `127.0.0.1:${await api.listenLoopback()}`;
      }
    } catch (e) {
      await api.close();
      throw new AgniError(
        'sandbox_error',
        `cannot open the Runtime API of ${v.function}: ${(e as Error).message}`,
      );
    }
    const m = v.manifest;
    const env = lambdaEnv({
      fn: v.function,
      version: v.version,
      memoryBytes: m.limits.memoryBytes,
      ...(m.handler ? { handler: m.handler } : {}),
      region: this.o.region,
      worker: spec.id,
      now: Date.now(),
    });
    const arn = functionArn(this.o.region, v.function);
    return {
      spec: {
        ...spec,
        env: { ...spec.env, ...env, AWS_LAMBDA_RUNTIME_API: address, AGNI_LIFECYCLE: 'warm' },
        ...(forward ? { loopbackForward: forward } : {}),
      },
      undo: () => api.close(),
      create: (sandbox, group, onExit, onRetire) =>
        new LambdaWorker(sandbox, group, api, arn, onExit, onRetire),
    };
  }
}
