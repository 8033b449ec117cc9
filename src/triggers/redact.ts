/** Webhook secrets stay on the server: every manifest or trigger the API returns has them masked. */

export const REDACTED = '***';

function isPlain(v: unknown): v is Record<string, unknown> {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/**
 * `v` with the secret of every webhook trigger in it replaced by "***". Copy-on-write: `v` is never
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
  return (out ?? v) as T;
}
