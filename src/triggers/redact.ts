/**
 * Secrets stay on the server: every manifest or trigger the API returns has its webhook secrets
 * and its `env:` values masked (env names stay: they say what a function is configured with).
 */

export const REDACTED = '***';

function isPlain(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** A manifest: `name`, `runtime` and an `env` mapping (function and version records carry one). */
function isManifest(
  v: Record<string, unknown>,
): v is Record<string, unknown> & { env: Record<string, unknown> } {
  return typeof v.name === 'string' && typeof v.runtime === 'string' && isPlain(v.env);
}

function maskValues(env: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.keys(env).map((k) => [k, REDACTED]));
}

/**
 * `v` with the secret of every webhook trigger and every manifest's env value replaced by "***". Copy-on-write: `v` is never
 * changed, and parts without secrets are shared, so large listings cost a walk and no copy.
 */
export function redactSecrets<T>(v: T): T {
  if (Array.isArray(v)) {
    let changed = false;
    const out = v.map((x) => {
      const y = redactSecrets(x);
      if (y !== x) changed = true;
      return y;
    });
    return (changed ? out : v) as T;
  }
  if (!isPlain(v)) return v;
  let out: Record<string, unknown> | undefined;
  for (const [k, x] of Object.entries(v)) {
    const y = redactSecrets(x);
    if (y === x) continue;
    out ??= { ...v };
    out[k] = y;
  }
  if (typeof v.webhook === 'string' && typeof v.secret === 'string') {
    out ??= { ...v };
    out.secret = REDACTED;
  }
  if (isManifest(v) && Object.keys(v.env).length > 0) {
    out ??= { ...v };
    out.env = maskValues(v.env);
  }
  return (out ?? v) as T;
}
