/**
 * agni.yaml: the user's description of a function. Parsing is pure (text in, Manifest or
 * AgniError out) so the API and the CLI validate identically.
 */
import { parseDocument } from 'yaml';
import { z } from 'zod';
import { type AllowEntry, parseAllowList } from './egress-allow.js';
import { AgniError } from './errors.js';
import { NAME_RE } from './function-name.js';
import { parseSecretRefs, type SecretRef } from './secret-refs.js';
import { parseTriggers, type Trigger } from './trigger-spec.js';
import { parseBytes, parseDuration } from './units.js';
import { VOLUME_NAME_RE, type VolumeMount, volumeMountsProblem } from './volumes.js';

export { NAME_RE };

/** the largest uid/gid agni.yaml may name: above it ids are negative as a signed int, or invalid (2^32-1) */
export const MAX_ID = 2_147_483_647;
/** a name (not starting with a dash, which tools read as an option) or a decimal id, each side */
const USER_PART = '(?:[A-Za-z0-9_.][A-Za-z0-9_.-]*)';
const USER_RE = new RegExp(`^${USER_PART}(?::${USER_PART})?$`);

/** Node's timers hold at most 2^31-1 ms (about 24.8 days); a longer delay fires at once. */
export const MAX_TIMER_MS = 2_147_483_647;

export const DEFAULT_LIMITS = { memory: '256Mi', cpus: 1, pids: 128, timeout: '30s' } as const;

/** os/arch[/variant], as `agni agent --platforms` and heartbeats spell them */
const PLATFORM_RE = /^[a-z0-9_.-]+\/[a-z0-9_.-]+(\/[a-z0-9_.-]+)?$/;
/** node labels (`agni agent --labels k=v,…`): no `=` or `,` so the flag's list stays readable */
export const LABEL_KEY_RE = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$/;
export const LABEL_VALUE_RE = /^[A-Za-z0-9._-]{0,63}$/;

const sizeOrNumber = z.union([z.string(), z.number()]);

const rawSchema = z
  .object({
    name: z
      .string()
      .regex(NAME_RE, 'lowercase letters, digits and dashes, starting with a letter or digit, at most 63'),
    runtime: z.string().min(1, 'host, or the name of an image imported with `agni image import`'),
    // Optional: an OCI image's config may provide Entrypoint/Cmd; deploy fails naming `command` when nothing does.
    command: z.union([z.string().min(1), z.array(z.string()).min(1)]).optional(),
    entrypoint: z.union([z.string().min(1), z.array(z.string()).min(1)]).optional(),
    workdir: z.string().regex(/^\//, 'an absolute path inside the sandbox').optional(),
    user: z
      .union([
        z
          .string()
          .regex(USER_RE, `uid[:gid] or name[:group] (ids from 0 to ${MAX_ID}, names not starting with -)`),
        z.number().int().min(0, `a uid from 0 to ${MAX_ID}`).max(MAX_ID, `a uid from 0 to ${MAX_ID}`),
      ])
      .optional(),
    env: z
      .record(
        z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name'),
        z.union([z.string(), z.number(), z.boolean()]),
      )
      .optional(),
    limits: z
      .object({
        memory: sizeOrNumber.optional(),
        cpus: z.number().positive().max(1024).optional(),
        pids: z.number().int().min(1).max(65536).optional(),
        timeout: sizeOrNumber.optional(),
      })
      .strict()
      .optional(),
    concurrency: z.number().int().min(1).max(10_000).optional(),
    network: z.enum(['none', 'host', 'egress']).optional(),
    // Checked by parseAllowList, so each error names the entry (`allow[2]`).
    allow: z.unknown().optional(),
    lifecycle: z.enum(['cold', 'warm']).optional(),
    protocol: z.enum(['agni', 'lambda']).optional(),
    handler: z.string().min(1).max(256).optional(),
    pool: z
      .object({
        min: z.number().int().min(0).max(1000).optional(),
        max: z.number().int().min(0).max(1000).optional(),
        idle: sizeOrNumber.optional(),
      })
      .strict()
      .optional(),
    retries: z.number().int().min(0).max(100).optional(),
    backoff: z
      .object({
        initial: sizeOrNumber.optional(),
        max: sizeOrNumber.optional(),
        factor: z.number().min(1).max(100).optional(),
      })
      .strict()
      .optional(),
    placement: z
      .object({
        platforms: z
          .array(z.string().regex(PLATFORM_RE, 'os/arch[/variant], e.g. linux/arm64'))
          .min(1, 'at least one os/arch[/variant], or leave `platforms` out')
          .max(16)
          .optional(),
        labels: z
          .record(
            z.string().regex(LABEL_KEY_RE, 'a label name: letters, digits, ".", "_", "-" and "/"'),
            z.string().regex(LABEL_VALUE_RE, 'a label value: letters, digits, ".", "_", "-", at most 63'),
          )
          .optional(),
      })
      .strict()
      .optional(),
    // Items are checked by parseTriggers, so each error names its kind's own fields.
    triggers: z.unknown().optional(),
    // Checked by parseSecretRefs (names, the optional env form).
    secrets: z.unknown().optional(),
    volumes: z
      .array(
        z
          .object({
            name: z
              .string()
              .regex(VOLUME_NAME_RE, 'a volume the operator declared (`agni up --volume NAME=…`)'),
            path: z.string().min(1, 'an absolute path inside the sandbox, e.g. /data'),
            mode: z.enum(['ro', 'rw']).optional(),
          })
          .strict(),
      )
      .max(32)
      .optional(),
    input: z.enum(['path', 'stdin']).optional(),
    description: z.string().optional(),
  })
  .strict();

function unwrapOptional(s: z.ZodType): z.ZodType {
  let cur = s;
  while (cur instanceof z.ZodOptional) cur = cur.unwrap() as z.ZodType;
  return cur;
}

/**
 * The fields agni.yaml takes in the mapping at `path` (the top level for []), read from the
 * schema itself so an error message (and the README's reference, see its test) cannot drift.
 */
export function manifestFields(path: readonly string[] = []): string[] {
  let s = unwrapOptional(rawSchema);
  for (const k of path) {
    if (!(s instanceof z.ZodObject)) return [];
    const next = (s.shape as Record<string, z.ZodType | undefined>)[k];
    if (!next) return [];
    s = unwrapOptional(next);
  }
  return s instanceof z.ZodObject ? Object.keys(s.shape) : [];
}

export interface Manifest {
  name: string;
  runtime: string;
  /** argv; a string command becomes ['/bin/sh', '-c', command]; empty when agni.yaml has none (the image's Cmd) */
  command: string[];
  /** replaces the image's Entrypoint (and, as in Docker, its Cmd unless `command` is set) */
  entrypoint?: string[];
  /** replaces the image's WorkingDir */
  workdir?: string;
  /** uid[:gid] or name[:group]; replaces the image's User (never root: see docs/images.md) */
  user?: string;
  env: Record<string, string>;
  limits: { memoryBytes: number; cpus: number; pids: number; timeoutMs: number };
  concurrency: number;
  network: 'none' | 'host' | 'egress';
  /**
   * `network: egress` only: the destinations the sandbox may reach (docs/network.md); empty: none.
   * Absent for the other modes.
   */
  allow?: AllowEntry[];
  /** cold: a fresh sandbox per invocation; warm: one sandbox serves many invocations in turn */
  lifecycle: 'cold' | 'warm';
  /**
   * How the function talks to the platform: `agni` (absent: stdin/stdout, or the warm protocol) or
   * `lambda` (the AWS Lambda Runtime API inside the sandbox, docs/lambda.md; always warm).
   */
  protocol?: 'lambda';
  /** `_HANDLER` for `protocol: lambda` (e.g. `function.handler`) */
  handler?: string;
  /** sandboxes (cold: prewarmed, created and waiting; warm: workers) kept per node */
  pool: { min: number; max: number; idleMs: number };
  /** async invocations: attempts after the first before the invocation is dead-lettered */
  retries: number;
  /** async retry delay: initialMs * factor^(attempt-1), capped at maxMs */
  backoff: { initialMs: number; maxMs: number; factor: number };
  /** what starts invocations besides direct calls: cron schedules, NATS subjects, webhooks */
  triggers: Trigger[];
  /** cluster mode: which nodes may run it (absent: any that can run its image) */
  placement?: { platforms?: string[]; labels?: Record<string, string> };
  /** secrets mounted at /run/secrets/NAME (absent: none); values live only in the secret store */
  secrets?: SecretRef[];
  /** named host directories (declared by the operator) mounted at `path`; read-only unless both say rw */
  volumes?: VolumeMount[];
  /**
   * How a by-reference job input (`agni map --ref`) reaches the function: `path` (absent: the file's
   * in-sandbox path in AGNI_INPUT, stdin empty) or `stdin` (its bytes on stdin, AGNI_INPUT set too).
   */
  input?: 'stdin';
  description?: string;
}

export const DEFAULT_BACKOFF = { initial: '1s', max: '5m', factor: 2 } as const;
export const DEFAULT_BACKOFF_MS = { initialMs: 1000, maxMs: 300_000, factor: 2 } as const;

export const DEFAULT_POOL = { min: 0, max: 2, idle: '60s' } as const;

const RESERVED_ENV = /^AGNI_/;

function invalid(file: string, field: string, expected: string, got?: unknown): AgniError {
  const gotText = got === undefined ? '' : ` (got ${JSON.stringify(got)})`;
  return new AgniError('manifest_invalid', `${file}: field \`${field}\`: expected ${expected}${gotText}`, {
    hint: 'see the agni.yaml reference in README.md',
    details: { file, field, expected },
  });
}

function valueAt(obj: unknown, path: readonly PropertyKey[]): unknown {
  let cur: unknown = obj;
  for (const k of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<PropertyKey, unknown>)[k];
  }
  return cur;
}

/** A duration that a timer can wait for (see MAX_TIMER_MS). */
function duration(file: string, field: string, value: string | number): number {
  const ms = parseDuration(value);
  if (typeof ms === 'string') throw invalid(file, field, ms, value);
  if (ms > MAX_TIMER_MS)
    throw invalid(file, field, `at most ${MAX_TIMER_MS} ms (about 24.8 days, 596h)`, value);
  return ms;
}

/** Numeric sides of `user` within 0..MAX_ID (names are checked against the runtime at deploy). */
function checkIds(file: string, user: string): void {
  for (const part of user.split(':')) {
    if (/^\d+$/.test(part) && Number(part) > MAX_ID)
      throw invalid(file, 'user', `uid[:gid] or name[:group] (ids from 0 to ${MAX_ID})`, user);
  }
}

/** Validates an already-parsed object (the API receives JSON; the CLI reads YAML). */
export function validateManifest(raw: unknown, file = 'agni.yaml'): Manifest {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    throw invalid(file, '(document)', 'a mapping with at least name and runtime');
  }
  const r = rawSchema.safeParse(raw);
  if (!r.success) {
    const issue = r.error.issues[0]!;
    // `volumes[0].name`, as the deploy-time check of a volume's name says it
    const field =
      (issue.path[0] === 'volumes'
        ? issue.path
            .map((p, i) => (typeof p === 'number' ? `[${p}]` : i > 0 ? `.${String(p)}` : String(p)))
            .join('')
        : issue.path.map(String).join('.')) || '(document)';
    let expected = issue.message;
    if (issue.code === 'unrecognized_keys') {
      const key = issue.keys[0]!;
      // The fields of the mapping the key is in (`limits` lists the limits), not the top level's.
      const known = manifestFields(issue.path.map(String)).join(', ');
      throw invalid(
        file,
        field === '(document)' ? key : `${field}.${key}`,
        field === '(document)'
          ? `no such field; known fields are ${known}`
          : `no such field; the fields of \`${field}\` are ${known}`,
      );
    }
    const got = valueAt(raw, issue.path);
    if (got === undefined) expected = `a value (it is required): ${expected}`;
    // An env value may be a secret: the error names the variable, never echoes its value.
    throw invalid(file, field, expected, issue.path[0] === 'env' ? undefined : got);
  }
  const m = r.data;
  const limits = { ...DEFAULT_LIMITS, ...m.limits };
  const memoryBytes = parseBytes(limits.memory);
  if (typeof memoryBytes === 'string') throw invalid(file, 'limits.memory', memoryBytes, limits.memory);
  if (memoryBytes < 4 * 1024 * 1024) throw invalid(file, 'limits.memory', 'at least 4Mi', limits.memory);
  const timeoutMs = duration(file, 'limits.timeout', limits.timeout);
  const pool = { ...DEFAULT_POOL, ...m.pool };
  const idleMs = duration(file, 'pool.idle', pool.idle);
  if (pool.min > pool.max) throw invalid(file, 'pool.min', `at most pool.max (${pool.max})`, pool.min);
  const backoff = { ...DEFAULT_BACKOFF, ...m.backoff };
  const initialMs = duration(file, 'backoff.initial', backoff.initial);
  const maxMs = duration(file, 'backoff.max', backoff.max);
  if (maxMs < initialMs)
    throw invalid(file, 'backoff.max', `at least backoff.initial (${initialMs} ms)`, backoff.max);
  const triggers = parseTriggers(m.triggers, m.name, (field, expected, got) => {
    throw invalid(file, field, expected, got);
  });
  const env: Record<string, string> = {};
  const lambda = m.protocol === 'lambda';
  if (lambda) checkLambda(file, m);
  else if (m.handler !== undefined) throw invalid(file, 'handler', 'no handler unless `protocol: lambda`');
  for (const [k, v] of Object.entries(m.env ?? {})) {
    if (RESERVED_ENV.test(k))
      throw invalid(file, `env.${k}`, 'a name not starting with AGNI_ (reserved for the platform)');
    if (lambda && LAMBDA_RESERVED_ENV.test(k))
      throw invalid(file, `env.${k}`, 'a name the Lambda runtime sets itself (see docs/lambda.md)');
    env[k] = String(v);
    if (env[k].includes('\0')) throw invalid(file, `env.${k}`, 'a value without NUL characters');
  }
  for (const [field, v] of [
    ['command', m.command],
    ['entrypoint', m.entrypoint],
    ['workdir', m.workdir],
  ] as const) {
    if ([v ?? []].flat().some((a) => a.includes('\0'))) throw invalid(file, field, 'no NUL characters');
  }
  if (m.user !== undefined) checkIds(file, String(m.user));
  const secrets = parseSecretRefs(m.secrets, (name) => {
    if (RESERVED_ENV.test(name)) return 'a name not starting with AGNI_ (reserved for the platform)';
    if (lambda && LAMBDA_RESERVED_ENV.test(name))
      return 'a name the Lambda runtime sets itself (see docs/lambda.md)';
    if (name in env) return `a variable \`env\` does not set too (${name})`;
    return undefined;
  });
  if (!Array.isArray(secrets)) throw invalid(file, secrets.field, secrets.expected, secrets.got);
  const volumes = (m.volumes ?? []).map((v) => ({ name: v.name, path: v.path, mode: v.mode ?? 'ro' }));
  const vp = volumeMountsProblem(volumes);
  if (vp) throw invalid(file, vp[0], vp[1], vp[2]);
  const allow = allowOf(file, m.network, m.allow);
  return {
    name: m.name,
    runtime: m.runtime,
    command: argv(m.command),
    ...(m.entrypoint ? { entrypoint: argv(m.entrypoint) } : {}),
    ...(m.workdir ? { workdir: m.workdir } : {}),
    ...(m.user !== undefined ? { user: String(m.user) } : {}),
    env,
    limits: { memoryBytes, cpus: limits.cpus, pids: limits.pids, timeoutMs },
    concurrency: m.concurrency ?? 4,
    network: m.network ?? 'none',
    ...(allow ? { allow } : {}),
    lifecycle: m.lifecycle ?? (lambda ? 'warm' : 'cold'),
    ...(lambda ? { protocol: 'lambda' as const } : {}),
    ...(m.handler !== undefined ? { handler: m.handler } : {}),
    pool: { min: pool.min, max: pool.max, idleMs },
    retries: m.retries ?? 0,
    backoff: { initialMs, maxMs, factor: backoff.factor },
    triggers,
    ...(m.placement && (m.placement.platforms || m.placement.labels)
      ? {
          placement: {
            ...(m.placement.platforms ? { platforms: m.placement.platforms } : {}),
            ...(m.placement.labels ? { labels: m.placement.labels } : {}),
          },
        }
      : {}),
    ...(secrets.length > 0 ? { secrets } : {}),
    ...(volumes.length > 0 ? { volumes } : {}),
    ...(m.input === 'stdin' ? { input: 'stdin' as const } : {}),
    ...(m.description ? { description: m.description } : {}),
  };
}

/** `allow:` is only for `network: egress`, where it lists every destination the sandbox may reach. */
function allowOf(file: string, network: string | undefined, raw: unknown): AllowEntry[] | undefined {
  if (network !== 'egress') {
    if (raw !== undefined)
      throw invalid(
        file,
        'allow',
        'no `allow` unless `network: egress` (it lists what an egress sandbox reaches)',
      );
    return undefined;
  }
  if (raw === undefined || raw === null) return [];
  const r = parseAllowList(raw);
  if (Array.isArray(r)) return r;
  const field = r.index === undefined ? 'allow' : `allow[${r.index}]`;
  throw invalid(file, field, r.problem, r.index === undefined ? raw : (raw as unknown[])[r.index]);
}

/** Set by the platform in a `protocol: lambda` sandbox (AWS reserves the same names). */
const LAMBDA_RESERVED_ENV =
  /^(_HANDLER|_X_AMZN_TRACE_ID|AWS_REGION|AWS_DEFAULT_REGION|AWS_EXECUTION_ENV|AWS_LAMBDA_.*|LAMBDA_TASK_ROOT|LAMBDA_RUNTIME_DIR)$/;

/** A Lambda function is a long-lived worker with its Runtime API on the sandbox's own loopback. */
function checkLambda(file: string, m: { lifecycle?: string; network?: string; handler?: string }): void {
  if (m.lifecycle === 'cold')
    throw invalid(
      file,
      'lifecycle',
      'warm or nothing with `protocol: lambda` (one sandbox serves many events)',
      m.lifecycle,
    );
  // On the host's network the Runtime API would be a loopback port every host process can reach;
  // its namespace holds only the forward (an egress namespace is made for the sandbox's veth).
  if (m.network !== undefined && m.network !== 'none')
    throw invalid(
      file,
      'network',
      'none with `protocol: lambda` (its Runtime API is private to the sandbox)',
      m.network,
    );
  if (m.handler?.includes('\0')) throw invalid(file, 'handler', 'no NUL characters');
}

/** What a `protocol: lambda` function runs when neither agni.yaml nor its image says: the custom runtime's bootstrap. */
export const LAMBDA_BOOTSTRAP = ['/fn/bootstrap'];

/** `m` with the bootstrap as its command when it is a Lambda function with nothing else to run. */
export function withLambdaBootstrap(m: Manifest, imageRuns: boolean): Manifest {
  if (m.protocol !== 'lambda' || m.command.length > 0 || m.entrypoint || imageRuns) return m;
  return { ...m, command: LAMBDA_BOOTSTRAP };
}

/** agni.yaml's string form runs through a shell, like a Dockerfile's shell form. */
function argv(v: string | string[] | undefined): string[] {
  if (v === undefined) return [];
  return typeof v === 'string' ? ['/bin/sh', '-c', v] : v;
}

export function parseManifest(text: string, file = 'agni.yaml'): Manifest {
  const doc = parseDocument(text, { prettyErrors: true, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const e = doc.errors[0]!;
    throw new AgniError('manifest_invalid', `${file}: not valid YAML: ${e.message.split('\n')[0]}`, {
      hint: 'check indentation and quoting near the reported line',
      details: { file, line: e.linePos?.[0]?.line },
    });
  }
  return validateManifest(doc.toJS(), file);
}
