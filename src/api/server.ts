/**
 * The HTTP API. Fastify does routing, body limits and errors; the invoke route takes over the raw
 * response so stdout can be streamed as it is produced and the outcome sent as trailers.
 */
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { AccessKeys } from '../app/access-keys.js';
import { ApiTokens } from '../app/api-tokens.js';
import type { Deployer } from '../app/deployer.js';
import type { DiskGuard } from '../app/disk-guard.js';
import type { Invoker } from '../app/invoker.js';
import type { Releases } from '../app/releases.js';
import type { Secrets } from '../app/secrets.js';
import type { NodeAdmin } from '../cluster/node-admin.js';
import type { AddressAllowList } from '../core/address-policy.js';
import { type HostPolicy, hostPolicy } from '../core/allowed-hosts.js';
import { AgniError } from '../core/errors.js';
import type { InvocationEventSource } from '../core/invocation-events.js';
import type { UnpackLimits } from '../core/limits.js';
import { stamp } from '../core/phases.js';
import { parseTarget } from '../core/qualifier.js';
import type { ImageInsight } from '../image/image-insight.js';
import type { LocalImages } from '../image/local-images.js';
import type { OciImages } from '../image/oci/pull-service.js';
import type { BenchSweepRepository } from '../store/bench-sweep-repo.js';
import type { ImageAliasRepository } from '../store/image-alias-repo.js';
import type { Store } from '../store/store.js';
import type { VersionResolver } from '../store/version-resolver.js';
import type { AsyncQueue } from '../triggers/async-queue.js';
import type { AsyncSubmitter } from '../triggers/async-types.js';
import type { JobRunner } from '../triggers/jobs.js';
import { redactSecrets } from '../triggers/redact.js';
import type { TriggerManager } from '../triggers/trigger-manager.js';
import { registerArchiveRoutes } from './archive-routes.js';
import { asAgniError } from './as-agni-error.js';
import { registerAsyncRoutes } from './async-routes.js';
import { assertFunctionAllowed, authorize } from './auth-hook.js';
import { registerBenchRoutes } from './bench-routes.js';
import { registerBuildRoutes } from './build-routes.js';
import { callOptions } from './call-options.js';
import { registerDiskGuard } from './disk-hook.js';
import { drainRequest } from './drain-request.js';
import { registerImageAliasRoutes } from './image-alias-routes.js';
import { registerImageInsightRoutes } from './image-insight-routes.js';
import { registerImageRegistryRoutes } from './image-registry-routes.js';
import { invocationQuery } from './invocation-query.js';
import { registerInvocationStream } from './invocation-stream.js';
import { registerJobRoutes } from './job-routes.js';
import { registerLambdaRoutes, signatureAuth } from './lambda-routes.js';
import { registerNodeRoutes } from './node-routes.js';
import {
  type MetricsRenderer,
  type RegisteredRoute,
  registerObservabilityRoutes,
} from './observability-routes.js';
import type { OpenRequests } from './open-requests.js';
import { type Pipeline, registerPipeRoutes } from './pipe-routes.js';
import { InvocationsQuery, parseQuery } from './query.js';
import { registerReleaseRoutes } from './release-routes.js';
import { guardRequest } from './request-guard.js';
import { routeKey, scopeOf } from './route-scopes.js';
import { scrubPaths } from './scrub-paths.js';
import { registerSecretRoutes } from './secret-routes.js';
import { replyStreamed } from './stream-reply.js';
import { assertTarType, requireTar, TAR_TYPES } from './tar-body.js';
import { registerTokenRoutes } from './token-routes.js';
import { registerTriggerRoutes } from './trigger-routes.js';
import { registerUiRoutes } from './ui-static.js';
import { DEFAULT_UPLOAD_IDLE_MS, uploadIdleMessage, watchUploadIdle } from './upload-idle.js';

export interface ApiDeps {
  store: Store;
  invoker: Invoker;
  deployer: Deployer;
  /** rollback and function aliases; those routes exist only when set */
  releases?: Releases;
  images: LocalImages;
  queue: AsyncQueue;
  /** what `GET …/result?wait=` waits on: settles of every server (src/triggers/settled-events.ts); default the queue's own */
  settles?: Pick<AsyncSubmitter, 'wait'>;
  /** fan-out jobs; their routes exist only when set */
  jobs?: JobRunner;
  /** cron, subject and webhook triggers; the listing and /hooks/* exist only when set */
  triggers?: TriggerManager;
  /** `agni pipe`: POST /v1/pipe answers 503 without it */
  pipeline?: Pipeline;
  logger: FastifyBaseLogger;
  info: () => Record<string, unknown>;
  /** the server token, an admin token: while set (or while named tokens exist) every route but the public ones needs a token */
  token?: string;
  /** named tokens with scopes (and the server token); without it only `token` is known */
  apiTokens?: ApiTokens;
  /** function secrets: /v1/secrets exists only when set */
  secrets?: Secrets;
  /** the Host names the API answers (default: localhost and IP literals) */
  hosts?: HostPolicy;
  /** private callback destinations the operator allows */
  callbackAllow?: AddressAllowList;
  maxPayloadBytes: number;
  /** images from OCI registries: pull, push, login */
  oci?: OciImages;
  /** `agni image ls|inspect|rm|prune|similarity`; those routes answer 503 without it */
  insight?: ImageInsight;
  /** per-arch image aliases; /v1/image-aliases exists only when set */
  aliases?: ImageAliasRepository;
  /** $AGNI_HOME: an error answer never shows it (a last resort; messages should not name paths) */
  home?: string;
  /** refuses uploads and payloads (507) when $AGNI_HOME's disk is nearly full */
  disk?: DiskGuard;
  /** what a build upload may unpack to */
  unpackLimits?: UnpackLimits;
  /** a request body that sends nothing this long (while read) is cut; 0: never (default 30s) */
  uploadIdleMs?: number;
  /** every request is tracked here while it is answered (what a shutdown cut) */
  openRequests?: OpenRequests;
  /** NAME@VERSION / NAME@ALIAS to a version (the Lambda API's DryRun and GetFunction); the live version only without it */
  resolver?: Pick<VersionResolver, 'resolve'>;
  /** AWS access keys: /v1/tokens, and signatures on the Lambda API (/2015-03-31/...) while any exist */
  accessKeys?: AccessKeys;
  /** the region in Lambda API answers' ARNs (`agni up --lambda-region`, default us-east-1) */
  lambdaRegion?: string;
  /** the region signed Lambda API requests must be scoped to (an operator-set --lambda-region); any when unset */
  signedRegion?: string;
  /** the nodes that run calls: /v1/nodes exists only when set */
  nodes?: NodeAdmin;
  /** the dashboard's compiled files (default dist/ui of this checkout) */
  uiDir?: string;
  /** where the bench scripts write their results (default bench/results of this checkout) */
  benchDir?: string;
  /** published `agni bench sweep` summaries: /v1/bench/sweeps exists only when set */
  sweeps?: BenchSweepRepository;
  /** GET /metrics (Prometheus text format, same auth as the API); absent: no such route */
  metrics?: MetricsRenderer;
  /** invocation events: GET /v1/invocations/stream (`agni logs -f`) exists only when set */
  invocationEvents?: InvocationEventSource;
}

const MAX_UPLOAD = 4 * 1024 ** 3;

/** every route each API instance registered, as `METHOD /path` (for the route-scope test and the start-up check) */
const registered = new WeakMap<FastifyInstance, string[]>();

export function routesOf(app: FastifyInstance): string[] {
  return [...new Set(registered.get(app) ?? [])];
}

declare module 'fastify' {
  interface FastifyRequest {
    receivedAt: number;
  }
}

const limitOf = (q: unknown): number => parseQuery(q, InvocationsQuery).limit;

export function buildApi(d: ApiDeps): FastifyInstance {
  const uploadIdleMs = d.uploadIdleMs ?? DEFAULT_UPLOAD_IDLE_MS;
  // Per-request logging would log every invocation twice; Agni records invocations itself.
  const app = Fastify({
    loggerInstance: d.logger.child({ component: 'api' }, { level: 'warn' }),
    bodyLimit: d.maxPayloadBytes,
  });
  app.decorateRequest('receivedAt', 0);
  const routes: string[] = [];
  registered.set(app, routes);
  app.addHook('onRoute', (r) => {
    for (const m of [r.method].flat()) {
      const key = routeKey(m, r.url);
      routes.push(key);
      // Refused at every request (fail closed); said once, loudly, at start-up.
      if (!scopeOf(m, r.url))
        d.logger.error(
          { route: key },
          'route without a scope in src/api/route-scopes.ts: every request to it is refused',
        );
    }
  });
  const hosts = d.hosts ?? hostPolicy('127.0.0.1', []);
  const tokens = d.apiTokens ?? new ApiTokens(undefined, d.token);
  app.addHook('onRequest', async (req, reply) => {
    req.receivedAt = stamp();
    d.openRequests?.add(req.raw, reply.raw);
    // A stalled body (slow loris) must not hold a connection, a buffer or a slot forever, refused
    // or not. The pipe route takes over with a watch of its own that stops its stages.
    watchUploadIdle(req.raw, uploadIdleMs, () => {
      req.log.warn({ url: req.url }, uploadIdleMessage(uploadIdleMs));
      req.raw.destroy();
    });
    guardRequest(req, hosts);
    // Every route's scope is in one table (route-scopes.ts). Webhooks check their own secret; the
    // Lambda API checks AWS signatures instead while access keys exist (lambda-routes.ts).
    await authorize(req, {
      tokens,
      signed: (r) => signatureAuth(r.url, d.accessKeys),
      invocationFunction: async (id) => (await d.store.getInvocation(id))?.function,
    });
    // Routes with a large body limit take tar streams: any other type would be buffered whole in
    // memory, up to that limit, before the route could refuse it.
    if ((req.routeOptions.bodyLimit ?? 0) > d.maxPayloadBytes) assertTarType(req);
  });
  // Manifests come back from several routes (functions, versions, triggers): mask secrets in all.
  app.addHook('preSerialization', async (_req, _reply, payload) => redactSecrets(payload));
  if (d.disk) registerDiskGuard(app, d.disk);
  app.removeAllContentTypeParsers();
  // Tar uploads stay streams (they can be large); everything else is a raw payload buffer.
  app.addContentTypeParser(TAR_TYPES, (_req, payload, done) => done(null, payload));
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  app.setErrorHandler(async (err, req, reply) => {
    const e = asAgniError(err, d.maxPayloadBytes, req.log);
    // A client may still be sending the body refused: it gets this answer, not a reset.
    await drainRequest(req.raw);
    // A full queue and a store that is away say when to come back.
    if (e.code === 'overloaded' || e.details?.retry_after_s !== undefined)
      reply.header('retry-after', String(e.details?.retry_after_s ?? 1));
    reply.status(e.status).send(d.home ? scrubPaths(e.toJSON(), d.home) : e.toJSON());
  });
  app.setNotFoundHandler((req, reply) => {
    const e = new AgniError('not_found', `no route ${req.method} ${req.url}`);
    reply.status(404).send(e.toJSON());
  });

  // Every route, as registered: /openapi.json describes exactly these (observability-routes.ts).
  const described: RegisteredRoute[] = [];
  app.addHook('onRoute', (r) => {
    for (const method of [r.method].flat()) if (method !== 'HEAD') described.push({ method, url: r.url });
  });

  app.get('/healthz', async () => ({ ok: true, ...d.info() }));
  registerObservabilityRoutes(app, { metrics: d.metrics, routes: described });
  if (d.invocationEvents) registerInvocationStream(app, d.invocationEvents);
  registerAsyncRoutes(app, d.queue, d.callbackAllow, d.token, d.settles);
  registerReleaseRoutes(app, d);
  registerJobRoutes(app, d);
  registerPipeRoutes(app, { ...d, uploadIdleMs });
  registerImageRegistryRoutes(app, d.oci);
  registerImageInsightRoutes(app, d.insight);
  registerBuildRoutes(app, d);
  registerArchiveRoutes(app, d.oci);
  if (d.aliases) registerImageAliasRoutes(app, d.aliases);
  if (d.triggers) registerTriggerRoutes(app, d.triggers, d.token);
  if (d.nodes) registerNodeRoutes(app, d.nodes);
  registerTokenRoutes(app, tokens, d.accessKeys);
  if (d.secrets) registerSecretRoutes(app, d.secrets);
  registerUiRoutes(
    app,
    async () => ({
      // the server token, or any named token (agni token create), makes every data route need one
      tokenRequired: await tokens.required(),
      features: {
        jobs: d.jobs !== undefined,
        triggers: d.triggers !== undefined,
        images: d.insight !== undefined,
        // cluster servers and agni up list nodes; the page shows them only where the route exists
        nodes: app.hasRoute({ method: 'GET', url: '/v1/nodes' }),
        bench: true,
      },
    }),
    d.uiDir,
  );
  registerBenchRoutes(app, d.benchDir, d.sweeps);
  registerLambdaRoutes(app, {
    ...d,
    keys: d.accessKeys,
    region: d.lambdaRegion,
    signedRegion: d.signedRegion,
  });

  app.post<{ Querystring: { runtime?: string } }>(
    '/v1/functions',
    { bodyLimit: MAX_UPLOAD },
    async (req, reply) => {
      const runtime = req.query.runtime;
      const v = await d.deployer.deploy(requireTar(req), {
        ...(runtime ? { runtime } : {}),
        allow: (name) => assertFunctionAllowed(req, name),
      });
      reply.status(201);
      return { name: v.function, version: v.version, runtime: v.manifest.runtime };
    },
  );
  app.get('/v1/functions', async () => ({ functions: await d.store.listFunctions() }));
  app.get<{ Params: { name: string } }>('/v1/functions/:name', async (req) => {
    const f = await d.store.getFunction(req.params.name);
    if (!f)
      throw new AgniError('function_not_found', `no function named ${req.params.name}`, {
        hint: 'list functions with `agni ls`',
      });
    return f;
  });
  app.delete<{ Params: { name: string } }>('/v1/functions/:name', async (req) => {
    const removed = await d.deployer.remove(req.params.name);
    await d.images.gc();
    return { name: req.params.name, versions: removed.length };
  });
  app.get<{ Params: { name: string } }>('/v1/functions/:name/versions', async (req) => {
    const versions = await d.store.listVersions(req.params.name);
    const live = await d.store.getLatestVersion(req.params.name);
    if (versions.length === 0 || !live)
      throw new AgniError('function_not_found', `no function named ${req.params.name}`);
    return { versions, live: live.version };
  });
  app.get<{ Params: { name: string } }>('/v1/functions/:name/invocations', async (req) => ({
    invocations: await d.store.listInvocations({
      ...invocationQuery(req.query),
      function: req.params.name,
      limit: limitOf(req.query),
    }),
  }));
  app.get('/v1/invocations', async (req) => ({
    invocations: await d.store.listInvocations({ ...invocationQuery(req.query), limit: limitOf(req.query) }),
  }));
  app.get<{ Params: { id: string } }>('/v1/invocations/:id', async (req) => {
    const r = await d.store.getInvocation(req.params.id);
    if (!r)
      throw new AgniError('invocation_not_found', `no invocation ${req.params.id}`, {
        hint: 'list recent ones with `agni logs NAME`',
      });
    return r;
  });

  // NAME, NAME@VERSION or NAME@ALIAS (see src/core/qualifier.ts), checked before the body is used.
  app.post<{ Params: { name: string } }>('/v1/functions/:name/invoke', async (req, reply) => {
    const { name, qualifier } = parseTarget(req.params.name, 'path `NAME`');
    const payload = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    const opts = callOptions(req, [d.token]);
    return replyStreamed(reply, (sink) =>
      d.invoker.invoke(name, payload, req.receivedAt, sink, { ...opts, qualifier }),
    );
  });

  app.post<{ Params: { name: string }; Querystring: { platform?: string } }>(
    '/v1/images/:name',
    { bodyLimit: MAX_UPLOAD },
    async (req, reply) => {
      const source = String(req.headers['agni-source'] ?? 'upload');
      const platform = req.query.platform ? String(req.query.platform) : undefined;
      const img = await d.images.import(req.params.name, requireTar(req), source, { platform });
      reply.status(201);
      return img;
    },
  );
  app.get('/v1/images', async () => ({ images: await d.store.listImages() }));
  app.delete<{ Params: { name: string } }>('/v1/images/:name', async (req) => {
    const name = req.params.name;
    // An import is an OCI image recorded under exactly this name; older imports are rootfs records.
    if (d.insight && !(await d.store.getImage(name)) && (await d.oci?.repo.get(name))) {
      await d.insight.remove(name, 'oci');
    } else await d.images.remove(name);
    return { name };
  });

  return app;
}
