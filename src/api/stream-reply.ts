/**
 * Answers with a sync invocation's stdout as it is produced. The status line waits for the first
 * byte (or the end), so errors before any output still get their proper status and JSON body
 * through the normal error handler; once streaming, the outcome goes out as trailers.
 */
import type { FastifyReply } from 'fastify';
import { describeFailure, type InvokeOutcome, type InvokeSink } from '../app/invoker.js';
import { isAgniError } from '../core/errors.js';

export async function replyStreamed(
  reply: FastifyReply,
  run: (sink: InvokeSink) => Promise<InvokeOutcome>,
): Promise<FastifyReply | Buffer> {
  const res = reply.raw;
  let streaming = false;
  let id = '';
  // Which version ran (an alias may split): known once recorded, sent before any output.
  let ran: Record<string, string> = {};
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
      res.write(chunk);
    },
  });
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
