/**
 * Lambda's Invoke (POST /2015-03-31/functions/{name}/invocations) over Agni's own paths: a
 * RequestResponse call goes through the Invoker as `agni invoke` does, an Event is queued on the
 * durable async queue as `agni invoke --async` is, and DryRun only checks the function is there.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Invoker } from '../app/invoker.js';
import { AgniError, isAgniError } from '../core/errors.js';
import { functionErrorDocument, logResult } from '../core/lambda-errors.js';
import { type LambdaTarget, parseLambdaTarget } from '../core/lambda-names.js';
import { parseQualifier, type Qualifier } from '../core/qualifier.js';
import { TailBuffer } from '../core/tail.js';
import type { Store } from '../store/store.js';
import type { Resolved, VersionResolver } from '../store/version-resolver.js';
import type { AsyncQueue } from '../triggers/async-queue.js';

/** Lambda's limit on a synchronous response; past it the call is a function error, as there */
export const MAX_SYNC_RESPONSE_BYTES = 6 * 1024 * 1024;
/** bytes of the log kept for X-Amz-Log-Result (the rest is cut there anyway) */
const LOG_KEEP_BYTES = 4096;

export type InvocationType = 'RequestResponse' | 'Event' | 'DryRun';
const TYPES: readonly InvocationType[] = ['RequestResponse', 'Event', 'DryRun'];

export function invocationType(h: unknown): InvocationType {
  if (h === undefined || h === '') return 'RequestResponse';
  const t = String(h);
  if ((TYPES as readonly string[]).includes(t)) return t as InvocationType;
  throw new AgniError(
    'bad_request',
    `X-Amz-Invocation-Type: ${JSON.stringify(t)}: expected one of ${TYPES.join(', ')}`,
    { details: { field: 'X-Amz-Invocation-Type' } },
  );
}

function wantsTail(h: unknown): boolean {
  if (h === undefined || h === '' || h === 'None') return false;
  if (h === 'Tail') return true;
  throw new AgniError('bad_request', `X-Amz-Log-Type: ${JSON.stringify(String(h))}: expected None or Tail`, {
    details: { field: 'X-Amz-Log-Type' },
  });
}

export interface InvokeRouteDeps {
  invoker: Invoker;
  queue: AsyncQueue;
  store: Store;
  /** qualifiers (versions, aliases); without it only the live version can be named */
  resolver?: Pick<VersionResolver, 'resolve'>;
}

type InvokeRequest = FastifyRequest<{ Params: { name: string }; Querystring: { Qualifier?: string } }>;

/** Lambda's qualifier ($LATEST, a version number, an alias) as Agni's (core/qualifier.ts). */
export function qualifierOf(t: LambdaTarget): Qualifier {
  return parseQualifier(t.qualifier ?? '', 'Qualifier');
}

/** The version a call names, resolved once: the same pick of a split alias for the checks and the call. */
export async function resolveTarget(
  d: Pick<InvokeRouteDeps, 'store' | 'resolver'>,
  t: LambdaTarget,
): Promise<Resolved> {
  const q = qualifierOf(t);
  if (d.resolver) return d.resolver.resolve(t.name, q);
  const live = q.kind === 'live' ? await d.store.getLatestVersion(t.name) : undefined;
  if (!live) throw notFound(t.qualifier === undefined ? t.name : `${t.name}:${t.qualifier}`);
  return { version: live, alias: null };
}

export async function handleInvoke(d: InvokeRouteDeps, req: InvokeRequest, reply: FastifyReply) {
  const target = parseLambdaTarget(req.params.name, req.query.Qualifier);
  const type = invocationType(req.headers['x-amz-invocation-type']);
  const tail = wantsTail(req.headers['x-amz-log-type']);
  const payload = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);

  const resolved = await resolveTarget(d, target);
  if (type === 'DryRun') {
    reply.status(204).header('x-amzn-requestid', randomUUID());
    return reply.send();
  }
  if (resolved.version.manifest.protocol === 'lambda') checkJsonEvent(payload);
  if (type === 'Event') {
    const { record } = await d.queue.submit({
      function: target.name,
      qualifier: qualifierOf(target),
      payload,
      source: 'lambda',
    });
    reply.status(202).header('x-amzn-requestid', record.id);
    return reply.send();
  }

  const body: Buffer[] = [];
  let kept = 0;
  let overflow = false;
  const log = new TailBuffer(LOG_KEEP_BYTES);
  const { record, version, error, result } = await d.invoker.invoke(
    target.name,
    payload,
    req.receivedAt,
    {
      onStdout(chunk) {
        if (overflow) return;
        if (kept + chunk.length > MAX_SYNC_RESPONSE_BYTES) {
          overflow = true;
          return;
        }
        kept += chunk.length;
        body.push(chunk);
      },
      onStderr: (chunk) => log.push(chunk),
    },
    { resolved },
  );
  if (record.status === 'error') {
    // It never ran to an outcome: a refusal (e.g. removed while it waited) or the server's failure.
    if (isAgniError(error)) throw error;
    throw new AgniError('sandbox_error', `${record.function}: ${record.error ?? 'the sandbox failed'}`);
  }
  reply
    .status(200)
    .type('application/json')
    .header('x-amzn-requestid', record.id)
    .header('x-amz-executed-version', String(record.version));
  if (tail)
    reply.header('x-amz-log-result', logResult(record, log.toString(), version.manifest.limits.memoryBytes));
  // A `protocol: lambda` function reports its own error document through the Runtime API.
  const own = result?.errorDocument;
  if (own) return reply.header('x-amz-function-error', 'Unhandled').send(own);
  const failure = functionErrorDocument(record, version.manifest.limits.timeoutMs);
  if (failure) return reply.header('x-amz-function-error', 'Unhandled').send(JSON.stringify(failure));
  if (overflow) {
    return reply.header('x-amz-function-error', 'Unhandled').send(
      JSON.stringify({
        errorType: 'Function.ResponseSizeTooLarge',
        errorMessage: `Response payload size exceeded maximum allowed payload size (${MAX_SYNC_RESPONSE_BYTES} bytes).`,
      }),
    );
  }
  return reply.send(Buffer.concat(body));
}

/** A Lambda runtime hands the event to a handler as parsed JSON: Lambda refuses anything else up front. */
function checkJsonEvent(payload: Buffer): void {
  if (payload.length === 0) return;
  try {
    JSON.parse(payload.toString('utf8'));
  } catch {
    throw new AgniError(
      'payload_invalid',
      'Could not parse request body into json: the event of a protocol: lambda function must be JSON',
      {
        hint: 'send a JSON document, e.g. {"name": "world"}',
      },
    );
  }
}

export function notFound(name: string): AgniError {
  return new AgniError('function_not_found', `Function not found: ${name}`, {
    hint: 'list functions with `agni ls`, or deploy one with `agni deploy DIR`',
  });
}
