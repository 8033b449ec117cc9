/**
 * `POST /v1/pipe?f=A&f=B&f=C`: the request body streams into stage A, the last stage's stdout streams
 * back. Like the invoke route, the status line waits for the first byte or the end, and once output
 * has started the outcome travels in trailers (naming the failing stage and its invocation).
 */
import { Readable } from 'node:stream';
import type { FastifyInstance } from 'fastify';
import { type Pipeline, pipeFailure } from '../app/pipeline.js';
import { parseCallTimeout, TIMEOUT_HEADER } from '../core/call-timeout.js';
import { AgniError } from '../core/errors.js';
import { pipeStages } from '../core/pipe.js';
import { writable } from '../core/writable.js';
import { DEFAULT_UPLOAD_IDLE_MS, uploadIdleMessage, watchUploadIdle } from './upload-idle.js';

export type { Pipeline };

export interface PipeRouteDeps {
  pipeline?: Pipeline;
  /** the input that sends nothing this long (while stage 1 reads) stops the pipe; 0: never */
  uploadIdleMs?: number;
}

export const PIPE_PATH = '/v1/pipe';
const TRAILERS =
  'agni-status, agni-exit-code, agni-failed-stage, agni-failed-invocation, agni-error, agni-error-code';

export function registerPipeRoutes(app: FastifyInstance, d: PipeRouteDeps): void {
  // A plugin scope of its own: here, and only here, every body stays a stream (no buffering, no
  // body limit) whatever its content type, because it is stage 1's stdin.
  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', (_req, payload, done) => done(null, payload));

    scope.post(PIPE_PATH, async (req, reply) => {
      const pipeline = d.pipeline;
      if (!pipeline) throw new AgniError('backend_unavailable', 'this server does not run pipes');
      const names = pipeStages((req.query as { f?: unknown }).f);
      const timeoutMs = parseCallTimeout(req.headers[TIMEOUT_HEADER]);
      const input = req.body instanceof Readable ? req.body : Buffer.alloc(0);
      const res = reply.raw;
      // The caller went away (closed the connection, or its upload broke): every stage is stopped.
      const stop = new AbortController();
      const gone = () => {
        if (!res.writableFinished) stop.abort();
      };
      res.once('close', gone);
      if (!Buffer.isBuffer(input)) input.once('error', gone);
      const ids: string[] = [];
      // An input that stops arriving stops the pipe: its stages must not hold their slots forever.
      const idleMs = d.uploadIdleMs ?? DEFAULT_UPLOAD_IDLE_MS;
      let idle: AgniError | undefined;
      const unwatch = watchUploadIdle(req.raw, idleMs, () => {
        idle = new AgniError('upload_idle', uploadIdleMessage(idleMs), {
          hint: 'send the input without long pauses and close it when done, or ask the operator for a longer `agni up --upload-idle`',
        });
        req.log.warn({ url: req.url, invocations: ids }, `pipe stopped: ${idle.message}`);
        stop.abort(idle);
      });
      let streaming = false;
      const outcome = await pipeline.run(
        names,
        input,
        req.receivedAt,
        {
          onQueued(stage, id) {
            ids[stage] = id;
            res.setHeader('agni-invocation-ids', ids.join(',')); // known early: a shutdown names what it cut
          },
          onStdout(chunk, first) {
            if (first) {
              // Hijack only once output exists: errors before that go through the normal error handler.
              reply.hijack();
              streaming = true;
              res.writeHead(200, {
                'content-type': 'application/octet-stream',
                // each in the store by now: the pipeline holds the first byte until they are
                'agni-invocation-ids': ids.join(','),
                trailer: TRAILERS,
              });
            }
            if (res.destroyed || res.write(chunk)) return undefined;
            return writable(res);
          },
          signal: stop.signal,
        },
        timeoutMs,
      );
      unwatch();
      res.off('close', gone);
      if (idle) {
        // The rest of the body will never be read: the connection closes after this answer.
        if (streaming) {
          res.addTrailers({
            'agni-status': 'error',
            'agni-error': idle.message,
            'agni-error-code': idle.code,
          });
          res.end();
          res.once('finish', () => req.raw.destroy());
          return reply;
        }
        reply.header('connection', 'close').header('agni-invocation-ids', ids.join(','));
        throw idle;
      }
      const f = outcome.failed;
      const status = f?.record.status ?? 'succeeded';
      const exitCode = (f ?? outcome.stages.at(-1))?.record.exitCode;
      if (outcome.aborted) {
        if (!streaming) reply.hijack();
        res.destroy();
        return reply;
      }
      if (streaming) {
        res.addTrailers({
          'agni-status': status,
          'agni-exit-code': String(exitCode ?? ''),
          ...(f ? { 'agni-failed-stage': String(f.stage), 'agni-failed-invocation': f.record.id } : {}),
        });
        res.end();
        return reply;
      }
      reply.header('agni-invocation-ids', ids.join(',')).header('agni-status', status);
      const failure = pipeFailure(outcome);
      if (failure) throw failure;
      reply.status(200).type('application/octet-stream');
      return Buffer.alloc(0);
    });
  });
}
