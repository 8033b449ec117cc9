/**
 * How triggers are shown: the rows of GET /v1/triggers and `agni triggers`. Pure, so the listing,
 * the time-zone formatting and the spec text are unit-tested without a server.
 */
import type { Manifest } from '../core/manifest.js';
import type { Trigger, TriggerKind } from '../core/trigger-spec.js';
import type { InvocationRecord } from '../store/store.js';
import { redactSecrets } from './redact.js';

export type NatsState = 'idle' | 'connecting' | 'connected' | 'reconnecting' | 'unreachable' | 'closed';

export interface NatsStatus {
  /** the server URL with any credentials masked */
  url: string;
  state: NatsState;
  /** the last connection error, when unreachable or reconnecting */
  error?: string;
}

export interface TriggerView {
  function: string;
  version: number;
  /** position in the function's `triggers` list (as in errors: `triggers.N`) */
  index: number;
  kind: TriggerKind;
  /** one line a person reads: the expression and zone, the subject, or the route */
  spec: string;
  /** the trigger as deployed, secrets masked */
  trigger: Trigger;
  /** scheduled, subscribed, waiting for NATS, ready, or conflict: ... */
  state: string;
  /** cron only: the next fire time (UTC) and the same instant in the trigger's zone */
  nextFireAt: string | null;
  nextFireLocal: string | null;
  fires: number;
  lastFiredAt: string | null;
  lastInvocationId: string | null;
  lastStatus: string | null;
  lastError: string | null;
}

export interface TriggersResponse {
  triggers: TriggerView[];
  nats: NatsStatus & { needed: boolean };
}

/** Versions deployed before triggers existed have none. */
export function triggersOf(m: Manifest): Trigger[] {
  return (m as Partial<Manifest>).triggers ?? [];
}

/** Identity of a trigger for change detection and stored state: everything but its secret. */
export function specOf(t: Trigger): string {
  const { secret: _secret, ...rest } = t as Trigger & { secret?: string };
  return JSON.stringify(rest);
}

export function describeTrigger(t: Trigger): string {
  const runs = t.version !== undefined ? ` -> @${t.version}` : t.alias !== undefined ? ` -> @${t.alias}` : '';
  switch (t.kind) {
    case 'cron':
      return `${t.cron} (${t.timezone})${runs}`;
    case 'subject':
      return `${t.subject} (queue ${t.queue}${t.reply ? `, reply ${t.reply}` : ''})${runs}`;
    case 'webhook':
      return `POST /hooks${t.webhook}${t.secret ? ' (secret)' : ''}${runs}`;
  }
}

/** "2025-06-01 09:05:00 Europe/Paris": the wall-clock time in `timezone`. */
export function formatInZone(at: Date, timezone: string): string {
  // sv-SE is the locale whose date format is ISO-like (YYYY-MM-DD HH:MM:SS).
  const text = new Intl.DateTimeFormat('sv-SE', {
    timeZone: timezone,
    year: 'numeric',
    month: '2-digit',
    day: '2-digit',
    hour: '2-digit',
    minute: '2-digit',
    second: '2-digit',
    hourCycle: 'h23',
  }).format(at);
  return `${text} ${timezone}`;
}

/** "in 4m 10s", "in 2h 5m", "now" */
export function inHowLong(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s <= 0) return 'now';
  if (s < 60) return `in ${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `in ${m}m${s % 60 ? ` ${s % 60}s` : ''}`;
  const h = Math.floor(m / 60);
  if (h < 48) return `in ${h}h${m % 60 ? ` ${m % 60}m` : ''}`;
  return `in ${Math.round(h / 24)}d`;
}

/** A short reason for a finished invocation that did not succeed (null when it did). */
export function resultError(r: Pick<InvocationRecord, 'status' | 'exitCode' | 'error'>): string | null {
  switch (r.status) {
    case 'failed':
      return `exited with code ${r.exitCode ?? 'unknown'}`;
    case 'timeout':
      return 'ran past its deadline';
    case 'oom':
      return 'ran out of memory';
    case 'error':
      return r.error ?? 'the sandbox failed';
    default:
      return null;
  }
}

/** The `url` without user, password or token (nats://user:pass@host → nats://***@host). */
export function redactUrl(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/)[^@/]*@/i, '$1***@');
}

export function viewOf(o: {
  function: string;
  version: number;
  index: number;
  trigger: Trigger;
  state: string;
  nextFire: Date | null;
  fires: number;
  lastFiredAt: number | null;
  lastInvocationId: string | null;
  lastStatus: string | null;
  lastError: string | null;
}): TriggerView {
  const t = o.trigger;
  return {
    function: o.function,
    version: o.version,
    index: o.index,
    kind: t.kind,
    spec: describeTrigger(t),
    trigger: redactSecrets(t),
    state: o.state,
    nextFireAt: o.nextFire ? o.nextFire.toISOString() : null,
    nextFireLocal: o.nextFire && t.kind === 'cron' ? formatInZone(o.nextFire, t.timezone) : null,
    fires: o.fires,
    lastFiredAt: o.lastFiredAt === null ? null : new Date(o.lastFiredAt).toISOString(),
    lastInvocationId: o.lastInvocationId,
    lastStatus: o.lastStatus,
    lastError: o.lastError,
  };
}
