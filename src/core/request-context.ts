/**
 * What a function learns about the HTTP request that started it (webhooks and HTTP invokes): the
 * method, path, query and headers, bounded and with credentials removed. Pure. The function sees it
 * as environment variables (`contextEnv`), in every protocol: the filter protocol's env, the
 * prewarmed gate's lines and the warm frame's env block. See README "Invocation protocol".
 */

export interface RequestContext {
  method: string;
  /** the raw (still percent-encoded) path, without the query */
  path: string;
  /** the raw query string, without the `?` */
  query: string;
  /** lower-case name → value; a header sent more than once has its values joined with ", " */
  headers: Record<string, string>;
  /** what the bounds cut: the path or query (cut to their limit), headers left out whole */
  truncated?: { path?: true; query?: true; headers?: number };
}

export const MAX_PATH_BYTES = 1024;
export const MAX_QUERY_BYTES = 2048;
export const MAX_HEADERS = 64;
/** names plus values of the headers kept */
export const MAX_HEADER_BYTES = 8192;

/**
 * Headers that carry credentials: never passed on, whatever their value. `x-hub-signature-256` is
 * not here: an HMAC of the body proves the caller knew the secret and does not reveal it.
 */
export const MASKED_HEADERS: ReadonlySet<string> = new Set([
  'authorization',
  'proxy-authorization',
  'cookie',
  'x-agni-secret',
  'x-gitlab-token',
]);

export interface RawRequest {
  method: string;
  /** the request target as received: path and optional `?query` */
  url: string;
  /** Node's `rawHeaders`: name, value, name, value, … in the order received */
  rawHeaders: readonly string[];
}

/** What a request's header or URL may not contain when it becomes an environment value. */
const UNSAFE = /[\r\n\0]/g;

function cut(s: string, max: number): [string, boolean] {
  const b = Buffer.from(s, 'utf8');
  if (b.length <= max) return [s, false];
  // Never a half character: drop a partial UTF-8 sequence at the end.
  return [
    b
      .subarray(0, max)
      .toString('utf8')
      .replace(/\uFFFD$/, ''),
    true,
  ];
}

/**
 * The bounded, credential-free context of `req`. `secrets` (the server token, the webhook's secret)
 * remove any header whose value contains one, whatever its name.
 */
export function requestContext(req: RawRequest, secrets: readonly string[] = []): RequestContext {
  const q = req.url.indexOf('?');
  const [path, pathCut] = cut(q < 0 ? req.url : req.url.slice(0, q), MAX_PATH_BYTES);
  const [query, queryCut] = cut(q < 0 ? '' : req.url.slice(q + 1), MAX_QUERY_BYTES);
  const headers: Record<string, string> = {};
  let kept = 0;
  let bytes = 0;
  let left = 0;
  const live = secrets.filter((s) => s.length > 0);
  for (let i = 0; i + 1 < req.rawHeaders.length; i += 2) {
    const name = req.rawHeaders[i]!.toLowerCase();
    const value = req.rawHeaders[i + 1]!.replace(UNSAFE, ' ');
    if (MASKED_HEADERS.has(name) || live.some((s) => value.includes(s))) continue;
    const prev = headers[name];
    const add = prev === undefined ? name.length + value.length : value.length + 2;
    // A header that does not fit is left out whole: a cut value (a signature, a JSON) would mislead.
    if ((prev === undefined && kept >= MAX_HEADERS) || bytes + add > MAX_HEADER_BYTES) {
      left++;
      continue;
    }
    headers[name] = prev === undefined ? value : `${prev}, ${value}`;
    if (prev === undefined) kept++;
    bytes += add;
  }
  const truncated = {
    ...(pathCut ? { path: true as const } : {}),
    ...(queryCut ? { query: true as const } : {}),
    ...(left > 0 ? { headers: left } : {}),
  };
  return {
    method: req.method.replace(UNSAFE, ''),
    path: path.replace(UNSAFE, ''),
    query: query.replace(UNSAFE, ''),
    headers,
    ...(Object.keys(truncated).length > 0 ? { truncated } : {}),
  };
}

/** `X-GitHub-Event` → `AGNI_HTTP_HEADER_X_GITHUB_EVENT` */
export function headerEnvName(name: string): string {
  return `AGNI_HTTP_HEADER_${name.toUpperCase().replace(/[^A-Z0-9]/g, '_')}`;
}

/** The context as the environment variables a function sees (none without a request). */
export function contextEnv(ctx: RequestContext | undefined): Record<string, string> {
  if (!ctx) return {};
  const env: Record<string, string> = {
    AGNI_HTTP_METHOD: ctx.method,
    AGNI_HTTP_PATH: ctx.path,
    AGNI_HTTP_QUERY: ctx.query,
    AGNI_HTTP_HEADERS: JSON.stringify(ctx.headers),
  };
  for (const [name, value] of Object.entries(ctx.headers)) {
    const key = headerEnvName(name);
    env[key] = env[key] === undefined ? value : `${env[key]}, ${value}`;
  }
  const t = ctx.truncated;
  if (t) {
    const what = [
      ...(t.path ? ['path'] : []),
      ...(t.query ? ['query'] : []),
      ...(t.headers ? [`headers:${t.headers}`] : []),
    ];
    env.AGNI_HTTP_TRUNCATED = what.join(',');
  }
  return env;
}

/**
 * A stored context read back (async invocations keep theirs in the store): anything malformed is
 * dropped rather than passed on.
 */
export function parseStoredContext(text: string | null): RequestContext | undefined {
  if (!text) return undefined;
  try {
    const v = JSON.parse(text) as RequestContext;
    if (typeof v.method !== 'string' || typeof v.path !== 'string' || typeof v.query !== 'string')
      return undefined;
    if (typeof v.headers !== 'object' || v.headers === null) return undefined;
    for (const x of Object.values(v.headers)) if (typeof x !== 'string') return undefined;
    return v;
  } catch {
    return undefined;
  }
}
