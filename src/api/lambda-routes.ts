/**
 * The AWS Lambda API's data plane (Invoke) and the part of its control plane a client needs to
 * find a function (GetFunction, GetFunctionConfiguration, ListFunctions), under /2015-03-31 as
 * AWS serves them, so the AWS SDKs and the aws CLI work with an endpoint override.
 *
 * Auth: while access keys exist (`agni token create NAME --aws`), every request here must be
 * AWS Signature V4-signed with one of them; while none exist these routes take the server's
 * ordinary auth (the AGNI_TOKEN bearer, or none). Errors use Lambda's shape: the exception name
 * in `x-amzn-ErrorType` and `{"Type", "message"}` as the body.
 */
import { randomUUID } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AccessKeys } from '../app/access-keys.js';
import { DEFAULT_REGION } from '../core/lambda.js';
import { lambdaRefusal, refusalBody } from '../core/lambda-errors.js';
import { parseLambdaTarget } from '../core/lambda-names.js';
import { asAgniError } from './as-agni-error.js';
import { drainRequest } from './drain-request.js';
import { functionConfiguration } from './lambda-config.js';
import { handleInvoke, type InvokeRouteDeps, invocationType, resolveTarget } from './lambda-invoke.js';
import { scrubPaths } from './scrub-paths.js';
import { precheckSigV4, verifySigV4 } from './sigv4-verify.js';

export const LAMBDA_PREFIX = '/2015-03-31/';

export interface LambdaApiDeps extends InvokeRouteDeps {
  /** access keys for signed requests; without it these routes take the server's ordinary auth */
  keys?: AccessKeys;
  /** the region of function ARNs in answers (default us-east-1) */
  region?: string;
  /** the region credentials must be scoped to (an operator-set `agni up --lambda-region`); any when unset */
  signedRegion?: string;
  maxPayloadBytes: number;
  home?: string;
}

/** true when a request to `url` is checked by signature instead of the bearer token */
export async function signatureAuth(url: string, keys: AccessKeys | undefined): Promise<boolean> {
  return keys !== undefined && url.startsWith(LAMBDA_PREFIX) && (await keys.any());
}

type Named = FastifyRequest<{ Params: { name: string }; Querystring: { Qualifier?: string } }>;

export function registerLambdaRoutes(app: FastifyInstance, d: LambdaApiDeps): void {
  const region = d.region ?? DEFAULT_REGION;
  const signing = { service: 'lambda', region: d.signedRegion };
  app.register(
    async (lambda) => {
      // Every body is the payload as bytes, whatever its Content-Type (a tar type included).
      lambda.removeAllContentTypeParsers();
      lambda.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));
      lambda.setErrorHandler(async (err, req, reply) => {
        const e = asAgniError(err, d.maxPayloadBytes, req.log);
        const r = lambdaRefusal(e);
        // As on the main API: an SDK still sending the refused body gets this answer, not a reset.
        await drainRequest(req.raw);
        // A full queue and a store that is away say when to come back.
        if (e.code === 'overloaded' || e.details?.retry_after_s !== undefined)
          reply.header('retry-after', String(e.details?.retry_after_s ?? 1));
        const body = refusalBody(r);
        reply
          .status(r.status)
          .header('x-amzn-errortype', r.type)
          .header('x-amzn-requestid', randomUUID())
          .type('application/json')
          .send(d.home ? scrubPaths(body, d.home) : body);
      });
      lambda.setNotFoundHandler((req, reply) => {
        reply
          .status(404)
          .header('x-amzn-errortype', 'UnknownOperationException')
          .type('application/json')
          .send({ Type: 'User', message: `Unknown operation ${req.method} ${req.url.split('?')[0]}` });
      });
      // What can be checked without the body is, before it is read: a stranger cannot make the
      // server buffer a payload (or learn whether the async queue is full).
      lambda.addHook('onRequest', async (req) => {
        if (!(await signatureAuth(req.url, d.keys))) return;
        await precheckSigV4(req.headers, (id) => d.keys!.secretOf(id), signing);
      });
      // Signatures cover the body: checked once it is read, before anything runs.
      lambda.addHook('preHandler', async (req) => {
        if (!(await signatureAuth(req.url, d.keys))) return;
        const accessKeyId = await verifySigV4(
          {
            method: req.method,
            url: req.url,
            headers: req.headers,
            body: Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0),
          },
          (id) => d.keys!.secretOf(id),
          signing,
        );
        await d.keys!.used(accessKeyId);
      });

      // A full async queue refuses an Event before its payload is read.
      const room = {
        onRequest: async (req: FastifyRequest) => {
          if (invocationType(req.headers['x-amz-invocation-type']) === 'Event') d.queue.assertRoom();
        },
      };
      lambda.post('/functions/:name/invocations', room, (req: Named, reply) => handleInvoke(d, req, reply));

      const list = async () => ({
        Functions: (await d.store.listFunctions()).map((f) => functionConfiguration(f, region)),
      });
      lambda.get('/functions', list);
      lambda.get('/functions/', list);
      const config = async (req: Named) => {
        const t = parseLambdaTarget(req.params.name, req.query.Qualifier);
        const { version } = await resolveTarget(d, t);
        return functionConfiguration(version, region, t.qualifier === '$LATEST' ? undefined : t.qualifier);
      };
      lambda.get('/functions/:name', async (req: Named) => ({
        Configuration: await config(req),
        Code: { RepositoryType: 'Agni' },
      }));
      lambda.get('/functions/:name/configuration', config);
    },
    { prefix: LAMBDA_PREFIX.slice(0, -1) },
  );
}
