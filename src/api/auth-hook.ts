/**
 * Who a request is and whether its scopes cover the route (src/api/route-scopes.ts). Runs in the
 * server's onRequest hook, before any body is read: a stranger cannot make the server buffer an
 * upload. Routes that take the function from the body (a deploy's agni.yaml) finish the check with
 * `assertFunctionAllowed` once they know it.
 */
import type { FastifyRequest } from 'fastify';
import type { ApiTokens, Principal } from '../app/api-tokens.js';
import { AgniError } from '../core/errors.js';
import { parseLambdaTarget } from '../core/lambda-names.js';
import { pipeStages } from '../core/pipe.js';
import { parseTarget } from '../core/qualifier.js';
import { formatScope, grants, type RouteNeed } from '../core/scopes.js';
import { type RouteScope, routeKey, scopeOf } from './route-scopes.js';
import { HOOKS_PREFIX } from './trigger-routes.js';

declare module 'fastify' {
  interface FastifyRequest {
    /** who made the request (undefined: a public route, or a server that needs no token) */
    principal?: Principal;
    /** the bearer token the request presented: never passed on to a function (call-options.ts) */
    credential?: string;
  }
}

/** an AWS-signed Lambda API request (its signature is checked by lambda-routes.ts): the invoke scope */
export const SIGNED: Principal = { name: '(aws access key)', scopes: [{ kind: 'invoke' }] };
/** a server that needs no token: every request may do everything */
const OPEN: Principal = { name: '(no token required)', scopes: [{ kind: 'admin' }] };

export interface AuthDeps {
  tokens: ApiTokens;
  /** true when the request is checked by AWS signature instead (lambda-routes.ts) */
  signed: (req: FastifyRequest) => Promise<boolean>;
  /** the function of an invocation id, for routes keyed by invocation */
  invocationFunction: (id: string) => Promise<string | undefined>;
}

function bearer(header: string | undefined): string | undefined {
  return header?.startsWith('Bearer ') ? header.slice(7) : undefined;
}

function quiet<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined; // a bad name: the route itself says so, to a caller allowed there
  }
}

/** the functions a route acts on, or undefined when it names none (or the name cannot be read) */
async function functionsOf(
  req: FastifyRequest,
  rule: RouteScope,
  d: AuthDeps,
): Promise<string[] | undefined> {
  const params = (req.params ?? {}) as Record<string, string | undefined>;
  const one = (s: string | undefined) => (s === undefined ? undefined : [s]);
  switch (rule.fn) {
    case 'path':
      return one(quiet(() => parseTarget(params.name ?? '').name));
    case 'lambda-path': {
      const q = (req.query ?? {}) as { Qualifier?: string };
      return one(quiet(() => parseLambdaTarget(params.name ?? '', q.Qualifier).name));
    }
    case 'invocation':
      return one(await d.invocationFunction(params.id ?? ''));
    case 'pipe-query':
      return quiet(() => pipeStages((req.query as { f?: unknown }).f).map((t) => t.name));
    default:
      return undefined;
  }
}

function forbidden(p: Principal, need: RouteNeed, what: string): AgniError {
  const needs = need === 'public' ? 'nothing' : need.join(' or ');
  return new AgniError(
    'forbidden',
    `token ${p.name} (${p.scopes.map(formatScope).join(' ')}) may not ${what}: it needs ${needs}`,
    {
      hint: 'use a token with that scope (`agni token create NAME --scope ...`, by an admin)',
      details: { token: p.name, need },
    },
  );
}

/** Throws unauthorized (no or unknown token) or forbidden (scopes fall short); sets req.principal. */
export async function authorize(req: FastifyRequest, d: AuthDeps): Promise<void> {
  const url = req.routeOptions.url;
  const rule = url === undefined ? undefined : scopeOf(req.method, url);
  if (url !== undefined && rule === undefined)
    // Fail closed: a route nobody gave a scope is refused to everyone (route-scopes.ts).
    throw new AgniError(
      'forbidden',
      `${routeKey(req.method, url)} has no scope in the route table: refused`,
      {
        hint: 'a server bug: add the route to src/api/route-scopes.ts',
      },
    );
  if (rule?.need === 'public') return;
  // A webhook caller has no token: a wrong hook path is a plain 404 for it (nothing is reached).
  if (url === undefined && req.url.startsWith(HOOKS_PREFIX)) return;
  let p: Principal | undefined;
  if (url !== undefined && (await d.signed(req))) p = SIGNED;
  else if (!(await d.tokens.required())) p = OPEN;
  else {
    const given = bearer(req.headers.authorization);
    if (given === undefined)
      throw new AgniError('unauthorized', 'this server requires a token', {
        hint: 'set AGNI_TOKEN to the server token or to a token from `agni token create`',
      });
    p = await d.tokens.verify(given);
    if (!p)
      throw new AgniError(
        'unauthorized',
        'the server refused the token: it is not the server token nor a token it issued',
        {
          hint: 'set AGNI_TOKEN to the server token or to a live token (`agni token ls`; revoked tokens stop working)',
        },
      );
    req.credential = given;
  }
  req.principal = p;
  // An unknown route (404) needs a valid token, nothing more: its answer says nothing.
  if (!rule) return;
  const unlimited = grants(p.scopes, rule.need, undefined);
  if (unlimited) return;
  // The upload names the function: the route checks it once read (assertFunctionAllowed).
  const need = rule.need as Exclude<RouteNeed, 'public'>;
  if (rule.fn === 'manifest' && p.scopes.some((s) => need.includes(s.kind))) return;
  const fns = await functionsOf(req, rule, d);
  const what = `${routeKey(req.method, url!)}${fns ? ` on ${fns.join(', ')}` : ''}`;
  if (!fns || fns.length === 0 || !fns.every((f) => grants(p.scopes, rule.need, f)))
    throw forbidden(p, rule.need, what);
}

/** For `fn: manifest` routes: throws unless the request may act on function `name`. */
export function assertFunctionAllowed(req: FastifyRequest, name: string): void {
  const p = req.principal;
  const url = req.routeOptions.url;
  const rule = url === undefined ? undefined : scopeOf(req.method, url);
  if (!p || !rule) return; // open server (no principal checked) or a route the hook already refused
  if (!grants(p.scopes, rule.need, name))
    throw forbidden(p, rule.need, `${routeKey(req.method, url!)} on ${name}`);
}
