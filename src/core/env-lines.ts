/**
 * Environment as `KEY=VALUE\n` lines: how per-invocation variables reach a process that is already
 * running (the prewarm gate reads them on fd 3, warm workers in their request frame). Pure.
 */
const ENV_KEY = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Throws for a key that is no variable name or a value that holds a newline or NUL. */
export function envLines(env: Record<string, string>): string {
  let out = '';
  for (const [k, v] of Object.entries(env)) {
    if (!ENV_KEY.test(k) || v.includes('\n') || v.includes('\0'))
      throw new Error(`environment variable '${k}' cannot be passed as a line`);
    out += `${k}=${v}\n`;
  }
  return out;
}
