/**
 * Secrets a function asks for in agni.yaml (`secrets: [db_password]` or
 * `secrets: [{name: db_password, env: PGPASSWORD}]`). Pure. Each is a file /run/secrets/NAME in the
 * sandbox; with `env`, also that environment variable (read from the file when the process starts,
 * so the value is never in the sandbox's config on disk).
 */

/** a secret's name: also its file name under /run/secrets, so no slash and never `.` or `..` */
export const SECRET_NAME_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
export const SECRET_NAME_RULE = 'letters, digits, _ . and -, starting with a letter or digit, at most 63';
const ENV_RE = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const SECRETS_DIR = '/run/secrets';
/** a secret's value is at most this long (a password, a key, a small credentials file) */
export const MAX_SECRET_BYTES = 64 * 1024;

export interface SecretRef {
  name: string;
  /** also exported as this environment variable */
  env?: string;
}

/** A failure: the field (`secrets[1].env`) and what was expected there. */
export type RefProblem = { field: string; expected: string; got?: unknown };

/** `raw` (agni.yaml's `secrets`) as refs, or the first problem. */
export function parseSecretRefs(
  raw: unknown,
  reservedEnv: (name: string) => string | undefined,
): SecretRef[] | RefProblem {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw))
    return { field: 'secrets', expected: 'a list of secret names (or {name, env} mappings)' };
  const out: SecretRef[] = [];
  const names = new Set<string>();
  const envs = new Set<string>();
  for (const [i, item] of raw.entries()) {
    const field = `secrets[${i}]`;
    const obj = typeof item === 'string' ? { name: item } : item;
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj))
      return { field, expected: 'a secret name or a mapping {name, env}' };
    const extra = Object.keys(obj).filter((k) => k !== 'name' && k !== 'env');
    if (extra.length > 0)
      return { field: `${field}.${extra[0]}`, expected: 'no such field; the fields are name, env' };
    const { name, env } = obj as { name?: unknown; env?: unknown };
    if (typeof name !== 'string' || !SECRET_NAME_RE.test(name))
      return {
        field: typeof item === 'string' ? field : `${field}.name`,
        expected: `a secret name: ${SECRET_NAME_RULE}`,
        got: name,
      };
    if (names.has(name)) return { field, expected: `each secret once (${name} is listed twice)` };
    names.add(name);
    if (env === undefined) {
      out.push({ name });
      continue;
    }
    if (typeof env !== 'string' || !ENV_RE.test(env))
      return { field: `${field}.env`, expected: 'an environment variable name', got: env };
    const why = reservedEnv(env);
    if (why) return { field: `${field}.env`, expected: why, got: env };
    if (envs.has(env))
      return { field: `${field}.env`, expected: `a variable no other secret sets (${env})`, got: env };
    envs.add(env);
    out.push({ name, env });
  }
  return out;
}
