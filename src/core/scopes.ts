/**
 * API token scopes and what they grant. Pure.
 *
 * A scope is `admin`, `deploy` or `invoke`; `deploy` and `invoke` may be limited to named functions
 * (`invoke:fn1,fn2`). `admin` grants everything. A route needs one of a set of scopes (see
 * src/api/route-scopes.ts); when a granting scope is limited to functions, the route must name a
 * function (taken from its path) and that function must be in the list. A route that names no
 * function is refused to a limited scope: it could reach functions outside the list.
 */
import { AgniError } from './errors.js';

export const SCOPE_KINDS = ['admin', 'deploy', 'invoke'] as const;
export type ScopeKind = (typeof SCOPE_KINDS)[number];

export interface Scope {
  kind: ScopeKind;
  /** absent: every function */
  functions?: string[];
}

const FN_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/** `invoke:fn1,fn2` → {kind: 'invoke', functions: ['fn1', 'fn2']}; `field` names the input in errors */
export function parseScope(text: string, field = 'scope'): Scope {
  const colon = text.indexOf(':');
  const kind = (colon < 0 ? text : text.slice(0, colon)).trim();
  if (!(SCOPE_KINDS as readonly string[]).includes(kind))
    throw new AgniError(
      'bad_request',
      `${field}: ${JSON.stringify(text)}: expected admin, deploy or invoke`,
      {
        hint: 'e.g. --scope deploy --scope invoke:fn1,fn2',
        details: { field },
      },
    );
  if (colon < 0) return { kind: kind as ScopeKind };
  if (kind === 'admin')
    throw new AgniError('bad_request', `${field}: admin cannot be limited to functions`, {
      details: { field },
    });
  const functions = text
    .slice(colon + 1)
    .split(',')
    .map((s) => s.trim());
  for (const f of functions) {
    if (!FN_RE.test(f))
      throw new AgniError(
        'bad_request',
        `${field}: ${JSON.stringify(text)}: ${JSON.stringify(f)} is not a function name`,
        {
          hint: 'e.g. invoke:fn1,fn2',
          details: { field },
        },
      );
  }
  return { kind: kind as ScopeKind, functions: [...new Set(functions)].sort() };
}

export function formatScope(s: Scope): string {
  return s.functions ? `${s.kind}:${s.functions.join(',')}` : s.kind;
}

/** What a route needs: `public` needs no token at all. */
export type RouteNeed = 'public' | ScopeKind[];

/**
 * True when `scopes` grant a route that needs `need` (any one of its kinds); `fn` is the function the
 * route acts on, when it names one.
 */
export function grants(scopes: readonly Scope[], need: RouteNeed, fn: string | undefined): boolean {
  if (need === 'public') return true;
  return scopes.some((s) => {
    if (s.kind === 'admin') return true;
    if (!need.includes(s.kind)) return false;
    if (!s.functions) return true;
    return fn !== undefined && s.functions.includes(fn);
  });
}
