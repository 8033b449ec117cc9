/**
 * A sweep's function may print its own metrics (step timings, scores) as JSON on stdout: the last
 * line that is a JSON object, or the whole stdout as one object. Numbers are kept (booleans as
 * 0/1); anything else is not a metric. Pure.
 */

/** CSV columns the sweep owns: a metric of the same name is renamed `metric_NAME`. */
export const RESERVED_COLUMNS = new Set(['mode', 'concurrency', 'replicate', 'wall_ms', 'status']);

const NAME_RE = /^[A-Za-z_][A-Za-z0-9_.-]{0,63}$/;

function asObject(text: string): Record<string, unknown> | undefined {
  const t = text.trim();
  if (!t.startsWith('{') || !t.endsWith('}')) return undefined;
  try {
    const v = JSON.parse(t) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** The metrics in a function's stdout; {} when it printed none. */
export function parseMetrics(stdout: string): Record<string, number> {
  const lines = stdout.split('\n');
  let obj: Record<string, unknown> | undefined;
  for (let i = lines.length - 1; i >= 0 && !obj; i--) obj = asObject(lines[i]!);
  obj ??= asObject(stdout);
  const out: Record<string, number> = {};
  if (!obj) return out;
  for (const [k, v] of Object.entries(obj)) {
    if (!NAME_RE.test(k) || k.startsWith('phase_') || k === 'agni_ms') continue;
    const n = typeof v === 'boolean' ? Number(v) : v;
    if (typeof n !== 'number' || !Number.isFinite(n)) continue;
    out[RESERVED_COLUMNS.has(k) ? `metric_${k}` : k] = n;
  }
  return out;
}
