/**
 * Which `Host` headers the API answers, and which browser requests may change state. Pure: headers
 * in, a verdict out (the API's request guard applies it).
 *
 * DNS rebinding: a page on attacker.example re-points its own name at 127.0.0.1 and then talks to
 * the local server as its own origin; only the Host header still says attacker.example. So the
 * server answers names it knows (localhost, the names the operator allows) and IP literals (an IP
 * literal is its own origin: no page can rebind it), and refuses every other name.
 *
 * Cross-site requests: a page may POST a "simple" request (text/plain, a form) to any origin
 * without asking; browsers mark it with `Origin` and `Sec-Fetch-Site`. curl and the CLI send
 * neither, so refusing a foreign Origin or a cross-site fetch costs them nothing.
 */
import { isIP } from 'node:net';

/** The names every server answers to; the listening address is added when it is a name. */
export const DEFAULT_ALLOWED_HOSTS: readonly string[] = ['localhost'];

/** `--allow-host '*'`: every Host is accepted (e.g. behind a proxy that checks it itself). */
export const ANY_HOST = '*';

export interface HostPolicy {
  /** lower-case names without a trailing dot; `*` accepts any */
  names: ReadonlySet<string>;
}

function normalName(name: string): string {
  return name.trim().toLowerCase().replace(/\.$/, '');
}

/**
 * The policy for a server listening on `listen` with the operator's extra `allowed` names. On a
 * wildcard address (0.0.0.0, ::) the machine's own host name is added, since that is how others
 * on the network reach it; any other name needs `--allow-host`.
 */
export function hostPolicy(listen: string, allowed: readonly string[], machine?: string): HostPolicy {
  const names = new Set(DEFAULT_ALLOWED_HOSTS);
  const l = normalName(listen.replace(/^\[|\]$/g, ''));
  if (l && !isIP(l)) names.add(l);
  if ((l === '0.0.0.0' || l === '::' || l === '') && machine) names.add(normalName(machine));
  for (const a of allowed) if (normalName(a)) names.add(normalName(a));
  return { names };
}

/** The host name of a Host header (no port, no brackets, lower case, no trailing dot); '' when malformed. */
export function hostOf(header: string | undefined): string {
  if (!header) return '';
  const h = header.trim();
  if (h.startsWith('[')) {
    const end = h.indexOf(']');
    if (end < 0) return '';
    const rest = h.slice(end + 1);
    if (rest !== '' && !/^:\d{1,5}$/.test(rest)) return '';
    return h.slice(1, end).toLowerCase();
  }
  const m = /^([^:\s/@]+)(:\d{1,5})?$/.exec(h);
  return m ? normalName(m[1]!) : '';
}

/** Why a Host header is refused, or undefined when the server answers it. */
export function hostProblem(header: string | undefined, p: HostPolicy): string | undefined {
  if (p.names.has(ANY_HOST)) return undefined;
  const host = hostOf(header);
  if (!host) return `the Host header ${JSON.stringify(header ?? '')} is missing or malformed`;
  if (isIP(host) || p.names.has(host)) return undefined;
  return `this server does not answer to the host name ${host}`;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * Why a request is refused as cross-site, or undefined. Only requests that may change state are
 * checked; a request is cross-site when the browser says so (Sec-Fetch-Site) or when its Origin
 * is not the server's own (same host and port as the Host header).
 */
export function crossSiteProblem(
  method: string,
  headers: { origin?: string; host?: string; 'sec-fetch-site'?: string },
): string | undefined {
  if (SAFE_METHODS.has(method.toUpperCase())) return undefined;
  const site = headers['sec-fetch-site']?.toLowerCase();
  if (site === 'cross-site' || site === 'same-site')
    return `the browser marked this ${method} as ${site} (Sec-Fetch-Site)`;
  const origin = headers.origin;
  if (origin === undefined) return undefined;
  let host: string;
  try {
    const u = new URL(origin);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error('not http');
    host = u.host;
  } catch {
    return `the ${method} comes from origin ${JSON.stringify(origin)}, not from this server`;
  }
  if (host.toLowerCase() !== (headers.host ?? '').toLowerCase())
    return `the ${method} comes from origin ${origin}, not from this server`;
  return undefined;
}
