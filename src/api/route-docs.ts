/**
 * What every route of the API is, for /openapi.json (openapi.ts) and docs/api.md (generated from
 * it): keyed by `METHOD URL` exactly as the route is registered. Body and query schemas are the
 * zod schemas the routes validate with (json-body.ts, query.ts), imported from the route files;
 * the few parameters parsed by a parser of their own (pipe's `f`, core/pipe.ts; the Lambda API's
 * `Qualifier`, core/lambda-names.ts) are described here as that parser takes them. The OpenAPI test starts a server and
 * fails on a registered route without an entry and on an entry without a route.
 */
import { z } from 'zod';
import { LoadQuery, SaveQuery } from './archive-routes.js';
import { FailedQuery, ResultQuery } from './async-routes.js';
import { SweepSummaryBody } from './bench-routes.js';
import { BuildQuery } from './build-routes.js';
import { AliasListQuery, AliasRemoveQuery, SetBody } from './image-alias-routes.js';
import { KindQuery, PruneBody, SimilarityQuery } from './image-insight-routes.js';
import { LoginBody, LogoutBody, PullBody, PushBody } from './image-registry-routes.js';
import { StreamQuery } from './invocation-stream.js';
import { createSchema, ItemsQuery, JobsQuery, refsSchema, retrySchema, startSchema } from './job-routes.js';
import { InvocationsQuery } from './query.js';
import { aliasSchema, rollbackSchema } from './release-routes.js';
import { CreateToken } from './token-routes.js';
import { HookQuery, TriggersQuery } from './trigger-routes.js';

/** a JSON body (its zod schema), a tar stream, or raw bytes (a function's stdin) */
export type RouteBody = z.ZodType | 'tar' | 'bytes';
export type RouteReply = 'json' | 'bytes' | 'tar' | 'ndjson' | 'sse' | 'text';

export interface RouteDoc {
  summary: string;
  /** the group docs/api.md lists it under */
  tag: string;
  body?: RouteBody;
  query?: z.ZodObject;
  /** what a success answers (default json) */
  reply?: RouteReply;
  /** the success status (default 200) */
  status?: number;
  /** needs no token (health, webhooks with their own secret) */
  open?: boolean;
}

export function routeKey(method: string, url: string): string {
  return `${method.toUpperCase()} ${url}`;
}

const qualifier = z.object({ Qualifier: z.string().optional() });

export const ROUTE_DOCS: Record<string, RouteDoc> = {
  'GET /healthz': { tag: 'server', summary: 'liveness, mode, backend and dispatcher counts', open: true },
  'GET /metrics': {
    tag: 'server',
    summary: 'metrics in the Prometheus text format (docs/observability.md)',
    reply: 'text',
  },
  'GET /openapi.json': { tag: 'server', summary: 'this API as an OpenAPI 3.1 document' },

  'POST /v1/functions': {
    tag: 'functions',
    summary: 'deploy a function directory (tar) as a new live version',
    body: 'tar',
    query: z.object({ runtime: z.string().optional() }),
    status: 201,
  },
  'GET /v1/functions': { tag: 'functions', summary: 'list functions' },
  'GET /v1/functions/:name': { tag: 'functions', summary: 'one function and its live version' },
  'DELETE /v1/functions/:name': { tag: 'functions', summary: 'remove a function and all its versions' },
  'GET /v1/functions/:name/versions': {
    tag: 'functions',
    summary: 'versions of a function, with the live one',
  },
  'DELETE /v1/functions/:name/versions/:version': {
    tag: 'releases',
    summary: 'remove one version (not the live one, nor one an alias points to)',
  },
  'POST /v1/functions/:name/rollback': {
    tag: 'releases',
    summary: 'make an earlier version live (default: the one before)',
    body: rollbackSchema,
  },
  'GET /v1/functions/:name/aliases': { tag: 'releases', summary: 'aliases of a function' },
  'PUT /v1/functions/:name/aliases/:alias': {
    tag: 'releases',
    summary: 'point an alias at a version, optionally split with a second by weight',
    body: aliasSchema,
  },
  'DELETE /v1/functions/:name/aliases/:alias': { tag: 'releases', summary: 'remove an alias' },

  'POST /v1/functions/:name/invoke': {
    tag: 'invocations',
    summary: 'run NAME, NAME@VERSION or NAME@ALIAS on the body; stdout streamed, outcome in trailers',
    body: 'bytes',
    reply: 'bytes',
  },
  'POST /v1/functions/:name/async': {
    tag: 'async',
    summary: 'queue an invocation durably (Idempotency-Key, Agni-Callback-Url headers)',
    body: 'bytes',
    status: 202,
  },
  'GET /v1/functions/:name/invocations': {
    tag: 'invocations',
    summary: "a function's recent invocations, newest first",
    query: InvocationsQuery,
  },
  'GET /v1/invocations': {
    tag: 'invocations',
    summary: 'recent invocations, newest first',
    query: InvocationsQuery,
  },
  'GET /v1/invocations/stream': {
    tag: 'invocations',
    summary: 'server-sent events: received, placed, finished of every new invocation (`agni logs -f`)',
    query: StreamQuery,
    reply: 'sse',
  },
  'GET /v1/invocations/:id': { tag: 'invocations', summary: 'one invocation: status, phases, output tails' },
  'GET /v1/invocations/:id/async': { tag: 'async', summary: "an async invocation's queue state" },
  'GET /v1/invocations/:id/result': {
    tag: 'async',
    summary: 'the output of an async invocation once settled (202 until then)',
    query: ResultQuery,
    reply: 'bytes',
  },
  'GET /v1/failed': {
    tag: 'async',
    summary: 'dead letters: async invocations that failed every attempt',
    query: FailedQuery,
  },
  'POST /v1/failed/:id/retry': {
    tag: 'async',
    summary: 'queue a dead-lettered invocation again',
    status: 202,
  },
  'POST /v1/pipe': {
    tag: 'invocations',
    summary: 'run functions as a pipeline, stdout of each into the next (query f, repeated)',
    body: 'bytes',
    query: z.object({ f: z.union([z.string(), z.array(z.string())]) }),
    reply: 'bytes',
  },

  'POST /v1/jobs': { tag: 'jobs', summary: 'create a fan-out job', body: createSchema, status: 201 },
  'GET /v1/jobs': { tag: 'jobs', summary: 'list jobs', query: JobsQuery },
  'GET /v1/jobs/:id': { tag: 'jobs', summary: 'one job with its counts, rate and ETA' },
  'DELETE /v1/jobs/:id': { tag: 'jobs', summary: 'forget a job that is not running' },
  'POST /v1/jobs/:id/inputs': {
    tag: 'jobs',
    summary: 'add inputs (one file, or lines with Agni-Input-Split: lines)',
    body: 'bytes',
    status: 201,
  },
  'POST /v1/jobs/:id/refs': {
    tag: 'jobs',
    summary: 'add inputs by reference: the files of a volume a glob names (VOLUME:/glob), no upload',
    body: refsSchema,
    status: 201,
  },
  'POST /v1/jobs/:id/start': {
    tag: 'jobs',
    summary: 'start running the items (more_inputs: while more are still added, until close)',
    body: startSchema,
  },
  'POST /v1/jobs/:id/close': {
    tag: 'jobs',
    summary: 'no more inputs for a job started with more_inputs: it finishes once its items have',
  },
  'POST /v1/jobs/:id/retry-failed': {
    tag: 'jobs',
    summary: 'run failed items (and a failed reduce) again',
    body: retrySchema,
  },
  'GET /v1/jobs/:id/items': {
    tag: 'jobs',
    summary: "a page of a job's items (with since and wait: held until one settles)",
    query: ItemsQuery,
  },
  'GET /v1/jobs/:id/items/:index/output': { tag: 'jobs', summary: "an item's output", reply: 'bytes' },
  'GET /v1/jobs/:id/reduce/output': { tag: 'jobs', summary: "the reduce's output", reply: 'bytes' },

  'GET /v1/triggers': {
    tag: 'triggers',
    summary: 'triggers of live versions, with next fire and history',
    query: TriggersQuery,
  },
  'POST /hooks/*': {
    tag: 'triggers',
    summary: "a webhook trigger's URL (its own secret, not the token)",
    body: 'bytes',
    query: HookQuery,
    reply: 'bytes',
    open: true,
  },

  'POST /v1/images/:name': {
    tag: 'images',
    summary: 'import a root filesystem (tar) as a local image',
    body: 'tar',
    status: 201,
  },
  'GET /v1/images': { tag: 'images', summary: 'local rootfs images' },
  'DELETE /v1/images/:name': { tag: 'images', summary: 'remove a local rootfs image' },
  'POST /v1/oci/pull': {
    tag: 'images',
    summary: 'pull an image from a registry; progress as NDJSON',
    body: PullBody,
    reply: 'ndjson',
  },
  'POST /v1/oci/push': {
    tag: 'images',
    summary: 'push a stored image to a registry; progress as NDJSON',
    body: PushBody,
    reply: 'ndjson',
  },
  'POST /v1/registries/login': {
    tag: 'images',
    summary: 'check and keep registry credentials',
    body: LoginBody,
  },
  'POST /v1/registries/logout': { tag: 'images', summary: 'forget registry credentials', body: LogoutBody },
  'GET /v1/oci/images': { tag: 'images', summary: 'every stored image (rootfs and OCI) with sizes' },
  'GET /v1/oci/images/:name/inspect': { tag: 'images', summary: 'one image in detail', query: KindQuery },
  'DELETE /v1/oci/images/:name': { tag: 'images', summary: 'remove a stored image', query: KindQuery },
  'POST /v1/oci/prune': { tag: 'images', summary: 'remove unused images and blobs', body: PruneBody },
  'GET /v1/oci/similarity': {
    tag: 'images',
    summary: 'shared layers and files between images (comma-separated names)',
    query: SimilarityQuery,
  },
  'POST /v1/oci/build': {
    tag: 'images',
    summary: 'build an image from a context (tar with a Containerfile)',
    body: 'tar',
    query: BuildQuery,
    status: 201,
  },
  'POST /v1/oci/load': {
    tag: 'images',
    summary: 'load an OCI or docker archive (tar)',
    body: 'tar',
    query: LoadQuery,
    status: 201,
  },
  'GET /v1/oci/save': {
    tag: 'images',
    summary: 'a stored image as an archive',
    query: SaveQuery,
    reply: 'tar',
  },
  'GET /v1/image-aliases': {
    tag: 'images',
    summary: 'per-architecture image aliases',
    query: AliasListQuery,
  },
  'PUT /v1/image-aliases': {
    tag: 'images',
    summary: 'set the image an alias uses on one arch',
    body: SetBody,
  },
  'DELETE /v1/image-aliases': {
    tag: 'images',
    summary: 'remove an alias for one arch',
    query: AliasRemoveQuery,
  },

  'POST /v1/tokens': {
    tag: 'tokens',
    summary: 'create a named API token with scopes, or an AWS access key (shown once)',
    body: CreateToken,
    status: 201,
  },
  'GET /v1/tokens': { tag: 'tokens', summary: 'list tokens and access keys (never their secrets)' },
  'DELETE /v1/tokens/:name': { tag: 'tokens', summary: 'revoke a token or an access key' },
  'PUT /v1/secrets/:name': {
    tag: 'secrets',
    summary: 'set a secret (the raw value, application/octet-stream); answers never carry it',
    body: 'bytes',
    status: 201,
  },
  'GET /v1/secrets': { tag: 'secrets', summary: 'list secrets: names, sizes, users (never values)' },
  'DELETE /v1/secrets/:name': { tag: 'secrets', summary: 'remove a secret no live version uses' },

  'GET /v1/nodes': { tag: 'nodes', summary: 'the nodes that run calls, with state, slots and warm versions' },
  'POST /v1/nodes/:name/drain': { tag: 'nodes', summary: 'a node takes no new calls; running ones finish' },
  'POST /v1/nodes/:name/resume': { tag: 'nodes', summary: 'a drained node takes calls again' },

  'GET /v1/bench/latest': { tag: 'server', summary: "the latest results of the repository's benchmarks" },
  'POST /v1/bench/sweeps': {
    tag: 'server',
    summary: 'publish an `agni bench sweep` summary for the dashboard (the newest 20 are kept)',
    body: SweepSummaryBody,
    status: 201,
  },
  'GET /v1/bench/sweeps/latest': {
    tag: 'server',
    summary: 'the latest published sweep summary (null when none)',
  },
  'GET /ui': { tag: 'dashboard', summary: 'redirect to /ui/', open: true, reply: 'text' },
  'GET /ui/': { tag: 'dashboard', summary: 'the web dashboard', open: true, reply: 'text' },
  'GET /ui/*': {
    tag: 'dashboard',
    summary: "the dashboard's files (any other path: the page)",
    open: true,
    reply: 'bytes',
  },
  'GET /ui/server.json': {
    tag: 'dashboard',
    summary: 'what the page must know before it has a token (whether one is needed, which parts exist)',
    open: true,
  },

  'POST /2015-03-31/functions/:name/invocations': {
    tag: 'lambda',
    summary: 'the Lambda Invoke API (RequestResponse, Event, DryRun)',
    body: 'bytes',
    query: qualifier,
    reply: 'bytes',
  },
  'GET /2015-03-31/functions': { tag: 'lambda', summary: 'the Lambda ListFunctions API' },
  'GET /2015-03-31/functions/': { tag: 'lambda', summary: 'the Lambda ListFunctions API (trailing slash)' },
  'GET /2015-03-31/functions/:name': {
    tag: 'lambda',
    summary: 'the Lambda GetFunction API',
    query: qualifier,
  },
  'GET /2015-03-31/functions/:name/configuration': {
    tag: 'lambda',
    summary: 'the Lambda GetFunctionConfiguration API',
    query: qualifier,
  },
};
