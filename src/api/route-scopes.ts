/**
 * The one table of what every API route needs (docs/security.md prints it). A route missing here is
 * refused to everyone, admin included (fail closed), and `route-scopes.test.ts` fails when the
 * server has a route this table does not name. Keys are `METHOD /path` as registered (HEAD as GET).
 *
 * `fn` says where the function a route acts on comes from, for scopes limited to functions
 * (`invoke:fn1,fn2`); a route without `fn` is refused to limited scopes:
 * - `path`: the `:name` path parameter (NAME, NAME@VERSION or NAME@ALIAS: the NAME)
 * - `lambda-path`: the Lambda API's FunctionName (a name, partial or full ARN, with or without qualifier)
 * - `invocation`: the function of the invocation `:id` names (looked up in the store)
 * - `pipe-query`: every stage of `agni pipe` (`?f=A&f=B`): each must be allowed
 * - `manifest`: the name in the uploaded agni.yaml, checked by the route once it is read
 */
import type { RouteNeed } from '../core/scopes.js';

export type FnFrom = 'path' | 'lambda-path' | 'invocation' | 'pipe-query' | 'manifest';

export interface RouteScope {
  need: RouteNeed;
  fn?: FnFrom;
}

const READ: RouteNeed = ['invoke', 'deploy'];
const INVOKE: RouteNeed = ['invoke'];
const DEPLOY: RouteNeed = ['deploy'];
const ADMIN: RouteNeed = ['admin'];

export const ROUTE_SCOPES: Readonly<Record<string, RouteScope>> = {
  // No token: a probe, and webhooks (each checks its trigger's own secret).
  'GET /healthz': { need: 'public' },
  'POST /hooks/*': { need: 'public' },
  // The dashboard's files and what it must know before it has a token (nothing in them is data)
  'GET /ui': { need: 'public' },
  'GET /ui/': { need: 'public' },
  'GET /ui/*': { need: 'public' },
  'GET /ui/server.json': { need: 'public' },
  // The latest benchmark results the dashboard charts
  'GET /v1/bench/latest': { need: READ },
  // `agni bench sweep --publish` posts its summary; the dashboard charts the latest
  'POST /v1/bench/sweeps': { need: DEPLOY },
  'GET /v1/bench/sweeps/latest': { need: READ },
  // Observability: metrics (what Prometheus scrapes), this API's description, the live event feed
  'GET /metrics': { need: READ },
  'GET /openapi.json': { need: READ },
  'GET /v1/invocations/stream': { need: READ },

  // Functions and their versions
  'POST /v1/functions': { need: DEPLOY, fn: 'manifest' },
  'GET /v1/functions': { need: READ },
  'GET /v1/functions/:name': { need: READ, fn: 'path' },
  'DELETE /v1/functions/:name': { need: DEPLOY, fn: 'path' },
  'GET /v1/functions/:name/versions': { need: READ, fn: 'path' },
  'DELETE /v1/functions/:name/versions/:version': { need: DEPLOY, fn: 'path' },
  'POST /v1/functions/:name/rollback': { need: DEPLOY, fn: 'path' },
  'GET /v1/functions/:name/aliases': { need: READ, fn: 'path' },
  'PUT /v1/functions/:name/aliases/:alias': { need: DEPLOY, fn: 'path' },
  'DELETE /v1/functions/:name/aliases/:alias': { need: DEPLOY, fn: 'path' },

  // Calls and what they left
  'POST /v1/functions/:name/invoke': { need: INVOKE, fn: 'path' },
  'POST /v1/functions/:name/async': { need: INVOKE, fn: 'path' },
  'POST /v1/pipe': { need: INVOKE, fn: 'pipe-query' },
  'GET /v1/functions/:name/invocations': { need: READ, fn: 'path' },
  'GET /v1/invocations': { need: READ },
  'GET /v1/invocations/:id': { need: READ, fn: 'invocation' },
  'GET /v1/invocations/:id/async': { need: READ, fn: 'invocation' },
  'GET /v1/invocations/:id/result': { need: READ, fn: 'invocation' },
  'GET /v1/failed': { need: READ },
  'POST /v1/failed/:id/retry': { need: INVOKE, fn: 'invocation' },

  // Fan-out jobs: the function is in the body, so only unlimited scopes
  'POST /v1/jobs': { need: INVOKE },
  'GET /v1/jobs': { need: READ },
  'GET /v1/jobs/:id': { need: READ },
  'POST /v1/jobs/:id/inputs': { need: INVOKE },
  'POST /v1/jobs/:id/refs': { need: INVOKE },
  'DELETE /v1/jobs/:id': { need: INVOKE },
  'POST /v1/jobs/:id/start': { need: INVOKE },
  'POST /v1/jobs/:id/close': { need: INVOKE },
  'POST /v1/jobs/:id/retry-failed': { need: INVOKE },
  'GET /v1/jobs/:id/items': { need: READ },
  'GET /v1/jobs/:id/items/:index/output': { need: READ },
  'GET /v1/jobs/:id/reduce/output': { need: READ },

  'GET /v1/triggers': { need: READ },

  // Images
  'POST /v1/images/:name': { need: DEPLOY },
  'GET /v1/images': { need: READ },
  'DELETE /v1/images/:name': { need: DEPLOY },
  'POST /v1/oci/build': { need: DEPLOY },
  'POST /v1/oci/pull': { need: DEPLOY },
  'POST /v1/oci/push': { need: DEPLOY },
  'POST /v1/oci/load': { need: DEPLOY },
  'GET /v1/oci/save': { need: DEPLOY },
  'GET /v1/oci/images': { need: READ },
  'GET /v1/oci/images/:name/inspect': { need: READ },
  'DELETE /v1/oci/images/:name': { need: DEPLOY },
  'POST /v1/oci/prune': { need: DEPLOY },
  'GET /v1/oci/similarity': { need: READ },
  'GET /v1/image-aliases': { need: READ },
  'PUT /v1/image-aliases': { need: DEPLOY },
  'DELETE /v1/image-aliases': { need: DEPLOY },

  // Nodes: anyone who may read sees them; taking one out of service is an operator's act
  'GET /v1/nodes': { need: READ },
  'POST /v1/nodes/:name/drain': { need: ADMIN },
  'POST /v1/nodes/:name/resume': { need: ADMIN },

  // Credentials: registry logins, tokens, secrets
  'POST /v1/registries/login': { need: ADMIN },
  'POST /v1/registries/logout': { need: ADMIN },
  'POST /v1/tokens': { need: ADMIN },
  'GET /v1/tokens': { need: ADMIN },
  'DELETE /v1/tokens/:name': { need: ADMIN },
  'PUT /v1/secrets/:name': { need: ADMIN },
  'GET /v1/secrets': { need: ADMIN },
  'DELETE /v1/secrets/:name': { need: ADMIN },

  // The AWS Lambda API (signed requests while access keys exist: they carry the invoke scope)
  'POST /2015-03-31/functions/:name/invocations': { need: INVOKE, fn: 'lambda-path' },
  'GET /2015-03-31/functions': { need: READ },
  'GET /2015-03-31/functions/': { need: READ },
  'GET /2015-03-31/functions/:name': { need: READ, fn: 'lambda-path' },
  'GET /2015-03-31/functions/:name/configuration': { need: READ, fn: 'lambda-path' },
};

export function routeKey(method: string, url: string): string {
  return `${method === 'HEAD' ? 'GET' : method} ${url}`;
}

export function scopeOf(method: string, url: string): RouteScope | undefined {
  return ROUTE_SCOPES[routeKey(method, url)];
}
