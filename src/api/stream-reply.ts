/**
 * Answers with a sync invocation's stdout as it is produced. The status line waits for the first
 * byte (or the end), so errors before any output still get their proper status and JSON body
 * through the normal error handler; once streaming, the outcome goes out as trailers.
 *
 * The caller is the only reader: a slow one holds the function's stdout (the write's backpressure
 * pauses the sandbox's pipe, so the server never buffers more than the socket's high-water mark),
 * and one that goes away cancels the call (its sandbox is killed; the record says `cancelled`).
 */
import type { FastifyReply } from 'fastify';
import { describeFailure, type InvokeOutcome, type InvokeSink } from '../app/invoker.js';
import { isAgniError } from '../core/errors.js';
import { writable } from '../core/writable.js';

/** why an invocation whose HTTP caller disconnected was stopped (stderr tail and record) */
export const CALLER_GONE = 'the caller went away';

export async function replyStreamed(
  reply: FastifyReply,
  run: (sink: InvokeSink) => Promise<InvokeOutcome>,
): Promise<FastifyReply | Buffer> {
  const res = reply.raw;
  let streaming = false;
  let id = '';
  // Which version ran (an alias may split): known once recorded, sent before any output.
  let ran: Record<string, string> = {};
  const stop = new AbortController();
  const gone = () => {
    if (!res.writableFinished) stop.abort(new Error(CALLER_GONE));
  };
  res.once('close', gone);
  const { record, version, error } = await run({
    onQueued(invocationId, v) {
      id = invocationId;
      res.setHeader('agni-invocation-id', id); // known early: a shutdown names what it cut
      if (v) ran = { 'agni-version': String(v.version), ...(v.alias ? { 'agni-alias': v.alias } : {}) };
    },
    onStdout(chunk, first) {
      if (first) {
        reply.hijack();
        streaming = true;
        res.writeHead(200, {
          'content-type': 'application/octet-stream',
          'agni-invocation-id': id,
          ...ran,
          trailer: 'agni-status, agni-exit-code',
        });
      }
      if (res.destroyed || res.write(chunk)) return undefined;
      return writable(res);
    },
    signal: stop.signal,
  })
    .catch((e: unknown) => {
      // The call failed on the store (its record could not be written, or not finished): the
      // answer is the store's error, and names no invocation, whose record may not exist.
      if (!streaming) res.removeHeader('agni-invocation-id');
      throw e;
    })
    .finally(() => res.off('close', gone));
  if (stop.signal.aborted) {
    // Nobody to answer: the connection is gone (its record says why).
    if (!streaming) reply.hijack();
    res.destroy();
    return reply;
  }
  if (streaming) {
    res.addTrailers({ 'agni-status': record.status, 'agni-exit-code': String(record.exitCode ?? '') });
    res.end();
    return reply;
  }
  reply.header('agni-invocation-id', record.id).header('agni-status', record.status).headers(ran);
  const { timeoutMs, memoryBytes } = version.manifest.limits;
  // A call refused for what it asked (e.g. its function was removed while it waited) keeps its 4xx.
  if (record.status === 'error' && isAgniError(error) && error.status < 500) throw error;
  const failure = describeFailure(record, timeoutMs, memoryBytes);
  if (failure) throw failure;
  reply.status(200).type('application/octet-stream');
  return Buffer.alloc(0);
}
