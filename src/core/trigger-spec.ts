/**
 * The `triggers:` list of agni.yaml: what starts invocations besides a direct call. Pure: items in,
 * normalized Trigger objects (or a field-naming error) out; cron arithmetic is croner's.
 */
import { Cron } from 'croner';
import { AgniError } from './errors.js';
import { aliasNameProblem, LIVE, type Qualifier } from './qualifier.js';

/**
 * What every trigger may add: the version its fires run. Neither: the live version at each fire
 * (a deploy or rollback moves it); `version: 3`: always version 3; `alias: prod`: what prod
 * points to at each fire.
 */
export interface TriggerTargetFields {
  version?: number;
  alias?: string;
}

export interface CronTrigger extends TriggerTargetFields {
  kind: 'cron';
  /** 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first (extension) */
  cron: string;
  /** IANA zone the expression is read in */
  timezone: string;
  /** sent as the payload of every run */
  payload: string;
}

export interface SubjectTrigger extends TriggerTargetFields {
  kind: 'subject';
  /** NATS subject to subscribe to; `*` and `>` wildcards allowed */
  subject: string;
  /** queue group: servers in one group share the messages */
  queue: string;
  /** where each result is also published */
  reply?: string;
}

export interface WebhookTrigger extends TriggerTargetFields {
  kind: 'webhook';
  /** served at POST /hooks<webhook> */
  webhook: string;
  /** shared secret the caller proves it knows (header or HMAC signature) */
  secret?: string;
}

export type Trigger = CronTrigger | SubjectTrigger | WebhookTrigger;
export type TriggerKind = Trigger['kind'];

export const TRIGGER_KINDS: readonly TriggerKind[] = ['cron', 'subject', 'webhook'];
export const DEFAULT_TIMEZONE = 'UTC';
export const MAX_TRIGGERS = 64;
export const MIN_SECRET_LENGTH = 8;

/** the fields each kind of trigger takes (exported for the README reference's test) */
export const TRIGGER_FIELDS: Record<TriggerKind, readonly string[]> = {
  cron: ['cron', 'timezone', 'payload', 'version', 'alias'],
  subject: ['subject', 'reply', 'queue', 'version', 'alias'],
  webhook: ['webhook', 'secret', 'version', 'alias'],
};

/** the version a trigger's fires run */
export function triggerQualifier(t: TriggerTargetFields): Qualifier {
  if (t.version !== undefined) return { kind: 'version', version: t.version };
  if (t.alias !== undefined) return { kind: 'alias', alias: t.alias };
  return LIVE;
}

function targetFields(rec: Record<string, unknown>, at: string, fail: FieldError): TriggerTargetFields {
  if (rec.version !== undefined && rec.alias !== undefined)
    fail(at, 'at most one of version and alias, not both');
  if (rec.version !== undefined) {
    const v = rec.version;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 1)
      fail(`${at}.version`, 'a version number of this function (1, 2, ...)', v);
    return { version: v };
  }
  if (rec.alias !== undefined) {
    const a = rec.alias;
    const problem = typeof a === 'string' ? aliasNameProblem(a) : 'expected an alias name';
    if (problem) fail(`${at}.alias`, `an alias of this function such as prod (${problem})`, a);
    return { alias: a as string };
  }
  return {};
}

/** Reports a bad field; `field` is relative to the manifest (`triggers.1.timezone`). */
export type FieldError = (field: string, expected: string, got?: unknown) => never;

export function defaultQueue(fn: string): string {
  return `agni.${fn}`;
}

export function isIanaZone(tz: string): boolean {
  // Intl also takes offsets such as +01:00; a zone name follows the tz database's spelling.
  if (!/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/.test(tz)) return false;
  try {
    new Intl.DateTimeFormat('en-US', { timeZone: tz });
    return true;
  } catch {
    return false;
  }
}

function cronOf(expr: string, timezone: string): Cron {
  return new Cron(expr, { timezone, mode: '5-or-6-parts' });
}

/** undefined when valid, else what is wrong (croner's words without its prefix). */
export function cronProblem(expr: string, timezone = DEFAULT_TIMEZONE): string | undefined {
  try {
    const c = cronOf(expr, timezone);
    if (!c.nextRun(new Date())) return 'it never fires';
    return undefined;
  } catch (e) {
    return (e as Error).message.replace(/^Cron(Pattern|Options)?:\s*/, '');
  }
}

/** The first fire time strictly after `after`, or null when the expression never fires again. */
export function nextFireTime(expr: string, timezone: string, after: Date): Date | null {
  return cronOf(expr, timezone).nextRun(after);
}

const TOKEN = /^[^\s.*>]+$/;

/** A subject to subscribe to: dot-separated tokens, `*` for one token, `>` as the last for the rest. */
export function isSubscribeSubject(s: string): boolean {
  const tokens = s.split('.');
  return tokens.every((t, i) => TOKEN.test(t) || t === '*' || (t === '>' && i === tokens.length - 1));
}

/** A subject to publish to: no wildcards. */
export function isPublishSubject(s: string): boolean {
  return s.split('.').every((t) => TOKEN.test(t));
}

/** Whether a concrete subject is delivered to a subscription on `pattern`. */
export function subjectMatches(pattern: string, subject: string): boolean {
  const p = pattern.split('.');
  const s = subject.split('.');
  for (let i = 0; i < p.length; i++) {
    if (p[i] === '>') return s.length > i;
    if (i >= s.length || (p[i] !== '*' && p[i] !== s[i])) return false;
  }
  return p.length === s.length;
}

/**
 * Subject triggers live under one prefix the operator sets, so a function cannot subscribe to (or
 * answer, or publish into) other applications' subjects on a shared NATS server.
 */
export const DEFAULT_SUBJECT_PREFIX = 'agni.';

/** The operator's prefix as dot-separated literal tokens ending in a dot (`team1` gives `team1.`). */
export function subjectPrefixOf(raw: string | undefined, flag = '--subject-prefix'): string {
  if (raw === undefined) return DEFAULT_SUBJECT_PREFIX;
  const p = raw.trim().replace(/\.$/, '');
  if (!p || !isPublishSubject(p))
    throw new AgniError(
      'bad_request',
      `${flag} ${JSON.stringify(raw)}: expected NATS subject tokens without wildcards, such as agni. or team1.jobs.`,
      { hint: `e.g. ${flag} ${DEFAULT_SUBJECT_PREFIX} (the default)` },
    );
  return `${p}.`;
}

/**
 * The first field of a subject trigger outside `prefix` (relative to the trigger), or undefined.
 * The subject and `reply:` must start with the prefix (so `>` and `*.x` never do); a queue group
 * given in agni.yaml must too (the default, agni.<fn>, names no subject).
 */
export function outsidePrefix(
  t: SubjectTrigger,
  fn: string,
  prefix: string,
): 'subject' | 'reply' | 'queue' | undefined {
  const inside = (s: string) => s.length > prefix.length && s.startsWith(prefix);
  if (!inside(t.subject)) return 'subject';
  if (t.reply !== undefined && !inside(t.reply)) return 'reply';
  if (t.queue !== defaultQueue(fn) && !inside(t.queue)) return 'queue';
  return undefined;
}

const PATH_SEGMENT = /^[A-Za-z0-9._~-]+$/;

export function isWebhookPath(p: string): boolean {
  if (!p.startsWith('/') || p.length > 200) return false;
  return p
    .slice(1)
    .split('/')
    .every((seg) => PATH_SEGMENT.test(seg) && seg !== '.' && seg !== '..');
}

function text(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  return undefined;
}

/** Validates and normalizes the raw `triggers` list of function `fn`. */
export function parseTriggers(raw: unknown, fn: string, fail: FieldError): Trigger[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw))
    fail('triggers', 'a list of triggers, each with one of cron, subject or webhook', raw);
  if (raw.length > MAX_TRIGGERS) fail('triggers', `at most ${MAX_TRIGGERS} triggers`, raw.length);
  const out: Trigger[] = [];
  const paths = new Map<string, number>();
  raw.forEach((item, i) => {
    const at = `triggers.${i}`;
    if (item === null || typeof item !== 'object' || Array.isArray(item))
      fail(at, 'a mapping with one of cron, subject or webhook', item);
    const rec = item as Record<string, unknown>;
    const kinds = TRIGGER_KINDS.filter((k) => k in rec);
    if (kinds.length !== 1)
      fail(
        at,
        kinds.length === 0
          ? 'one of cron, subject or webhook'
          : `exactly one of cron, subject or webhook, not both ${kinds.join(' and ')}`,
      );
    const kind = kinds[0]!;
    for (const key of Object.keys(rec)) {
      if (!TRIGGER_FIELDS[kind].includes(key))
        fail(`${at}.${key}`, `no such field; a ${kind} trigger has ${TRIGGER_FIELDS[kind].join(', ')}`);
    }
    const target = targetFields(rec, at, fail);
    if (kind === 'cron') out.push({ ...cronTrigger(rec, at, fail), ...target });
    else if (kind === 'subject') out.push({ ...subjectTrigger(rec, at, fn, fail), ...target });
    else {
      const w = { ...webhookTrigger(rec, at, fail), ...target };
      const first = paths.get(w.webhook);
      if (first !== undefined)
        fail(`${at}.webhook`, `a path not already used by triggers.${first}`, w.webhook);
      paths.set(w.webhook, i);
      out.push(w);
    }
  });
  return out;
}

function cronTrigger(rec: Record<string, unknown>, at: string, fail: FieldError): CronTrigger {
  const expr = rec.cron;
  if (typeof expr !== 'string' || expr.trim() === '')
    fail(`${at}.cron`, 'a cron expression such as "*/5 * * * *"', expr);
  let timezone = DEFAULT_TIMEZONE;
  if (rec.timezone !== undefined) {
    if (typeof rec.timezone !== 'string' || !isIanaZone(rec.timezone))
      fail(`${at}.timezone`, 'an IANA time zone such as Europe/Paris, America/New_York or UTC', rec.timezone);
    timezone = rec.timezone;
  }
  const problem = cronProblem(expr.trim(), timezone);
  if (problem)
    fail(
      `${at}.cron`,
      `a cron expression of 5 fields (minute hour day-of-month month day-of-week), or 6 with seconds first: ${problem}`,
      expr,
    );
  let payload = '';
  if (rec.payload !== undefined && rec.payload !== null) {
    // A mapping or list is sent as JSON, the shape most functions read.
    payload = text(rec.payload) ?? JSON.stringify(rec.payload);
  }
  return { kind: 'cron', cron: expr.trim(), timezone, payload };
}

function subjectTrigger(
  rec: Record<string, unknown>,
  at: string,
  fn: string,
  fail: FieldError,
): SubjectTrigger {
  const subject = rec.subject;
  if (typeof subject !== 'string' || !isSubscribeSubject(subject))
    fail(
      `${at}.subject`,
      'a NATS subject such as orders.created (dot-separated tokens; `*` matches one token, `>` the rest)',
      subject,
    );
  const t: SubjectTrigger = { kind: 'subject', subject, queue: defaultQueue(fn) };
  if (rec.queue !== undefined) {
    if (typeof rec.queue !== 'string' || !/^[^\s*>]+$/.test(rec.queue))
      fail(`${at}.queue`, 'a queue group name without spaces or wildcards', rec.queue);
    t.queue = rec.queue;
  }
  if (rec.reply !== undefined) {
    if (typeof rec.reply !== 'string' || !isPublishSubject(rec.reply))
      fail(`${at}.reply`, 'a NATS subject without wildcards, such as orders.done', rec.reply);
    // Publishing results where the trigger listens would feed each result back in, forever.
    if (subjectMatches(subject, rec.reply))
      fail(`${at}.reply`, `a subject that ${subject} does not match (it would re-trigger itself)`, rec.reply);
    t.reply = rec.reply;
  }
  return t;
}

function webhookTrigger(rec: Record<string, unknown>, at: string, fail: FieldError): WebhookTrigger {
  const path = rec.webhook;
  if (typeof path !== 'string' || !isWebhookPath(path))
    fail(
      `${at}.webhook`,
      'a path such as /github/push (segments of letters, digits, . _ ~ -, each after a /)',
      path,
    );
  const t: WebhookTrigger = { kind: 'webhook', webhook: path };
  if (rec.secret !== undefined) {
    if (typeof rec.secret !== 'string' || rec.secret.length < MIN_SECRET_LENGTH)
      fail(`${at}.secret`, `a string of at least ${MIN_SECRET_LENGTH} characters`);
    t.secret = rec.secret;
  }
  return t;
}
