/**
 * Runs the triggers of every live function version: cron schedules, NATS subscriptions and webhook
 * routes. It reconciles from the store at start and again for one function after each deploy or
 * removal, keeping triggers whose spec did not change, and records what each trigger did last.
 */
import type { Logger } from 'pino';
import type { InvokeOptions, InvokeOutcome, Invoker, InvokeSink } from '../app/invoker.js';
import { AgniError } from '../core/errors.js';
import type { Manifest } from '../core/manifest.js';
import { stamp } from '../core/phases.js';
import {
  type CronTrigger,
  DEFAULT_SUBJECT_PREFIX,
  outsidePrefix,
  type Trigger,
  type WebhookTrigger,
} from '../core/trigger-spec.js';
import type { Store, VersionRecord } from '../store/store.js';
import type { TriggerStateRepo } from '../store/trigger-state.js';
import type { AsyncSubmitter, Submitted } from './async-types.js';
import { CronSchedule } from './cron-schedule.js';
import { NatsLink } from './nats-link.js';
import { replyFor } from './subject-reply.js';
import { TriggerFires } from './trigger-fires.js';
import { specOf, type TriggersResponse, triggersOf, viewOf } from './trigger-view.js';

export interface TriggerManagerOptions {
  store: Store;
  repo: TriggerStateRepo;
  invoker: Invoker;
  /** durable async invocations: every cron tick, and webhooks called with ?async=1 */
  submitter: AsyncSubmitter;
  logger: Logger;
  natsUrl: string;
  /** subject triggers' subjects, replies and queue groups start with this (default `agni.`) */
  subjectPrefix?: string;
}

interface Active {
  fn: string;
  version: number;
  index: number;
  trigger: Trigger;
  spec: string;
  cron?: CronSchedule;
  /** webhook only: the function that already serves this path */
  conflictWith?: string;
  /** subject only: the field outside the subject prefix (deployed before the prefix changed) */
  outside?: string;
}

export interface WebhookTarget {
  fn: string;
  index: number;
  trigger: WebhookTrigger;
}

export class TriggerManager {
  private readonly active = new Map<string, Active[]>();
  private readonly webhooks = new Map<string, Active>();
  private readonly nats: NatsLink;
  private readonly fires: TriggerFires;
  private chain: Promise<void> = Promise.resolve();
  private stopped = false;

  constructor(private readonly o: TriggerManagerOptions) {
    const logger = o.logger.child({ component: 'triggers' });
    this.nats = new NatsLink(o.natsUrl, logger);
    this.fires = new TriggerFires(o.invoker, o.submitter, o.repo, logger);
  }

  /** starts the triggers of every live version */
  async start(): Promise<void> {
    this.fires.listen();
    for (const f of await this.o.store.listFunctions()) await this.reconcile(f.function);
  }

  /** brings `fn`'s running triggers in line with its live version (none after a removal) */
  reconcile(fn: string): Promise<void> {
    const next = this.chain.then(async () => {
      if (this.stopped) return;
      const v = await this.o.store.getLatestVersion(fn);
      // Shutdown may have begun while the version was read: start nothing new then.
      if (this.stopped) return;
      this.apply(fn, v);
      const wanted = this.active.get(fn) ?? [];
      await this.o.repo.sync(
        fn,
        wanted.map((a) => ({ kind: a.trigger.kind, spec: a.spec })),
      );
    });
    // One failed reconcile must not stop later ones; the caller still sees its own failure.
    this.chain = next.catch((e) =>
      this.o.logger.error({ err: e, function: fn }, 'triggers: reconcile failed'),
    );
    return next;
  }

  private get prefix(): string {
    return this.o.subjectPrefix ?? DEFAULT_SUBJECT_PREFIX;
  }

  /**
   * refuses a deploy with a subject trigger outside the subject prefix, or whose webhook path
   * another function already serves
   */
  async checkClaims(m: Manifest, file = 'agni.yaml'): Promise<void> {
    const mine = triggersOf(m);
    mine.forEach((t, i) => {
      const out = t.kind === 'subject' ? outsidePrefix(t, m.name, this.prefix) : undefined;
      if (!out || t.kind !== 'subject') return;
      const field = `triggers.${i}.${out}`;
      throw new AgniError(
        'manifest_invalid',
        `${file}: field \`${field}\`: ${JSON.stringify(t[out])} is outside the subject prefix ${this.prefix} this server confines triggers to`,
        {
          hint: `use a subject under ${this.prefix} (e.g. ${this.prefix}orders.created, ${this.prefix}>); the operator sets the prefix with \`agni up --subject-prefix\``,
          details: { file, field, prefix: this.prefix },
        },
      );
    });
    // An alias may be set after the deploy; a version number must exist already.
    for (const [i, t] of mine.entries()) {
      if (t.version === undefined || (await this.o.store.getVersion(m.name, t.version))) continue;
      const field = `triggers.${i}.version`;
      throw new AgniError(
        'manifest_invalid',
        `${file}: field \`${field}\`: ${m.name} has no version ${t.version}`,
        {
          hint: `list its versions with \`agni versions ${m.name}\`; a trigger runs the live version when it names none`,
          details: { file, field },
        },
      );
    }
    if (!mine.some((t) => t.kind === 'webhook')) return;
    const owners = new Map<string, string>();
    for (const f of await this.o.store.listFunctions()) {
      if (f.function === m.name) continue;
      for (const t of triggersOf(f.manifest)) if (t.kind === 'webhook') owners.set(t.webhook, f.function);
    }
    mine.forEach((t, i) => {
      const owner = t.kind === 'webhook' ? owners.get(t.webhook) : undefined;
      if (t.kind !== 'webhook' || owner === undefined) return;
      const field = `triggers.${i}.webhook`;
      throw new AgniError(
        'conflict',
        `${file}: field \`${field}\`: ${t.webhook} is already the webhook of function ${owner}`,
        {
          hint: `choose another path, or remove the trigger from ${owner} first (see \`agni triggers\`)`,
          details: { file, field, function: owner },
        },
      );
    });
  }

  webhook(path: string): WebhookTarget | undefined {
    const a = this.webhooks.get(path);
    return a && a.trigger.kind === 'webhook' ? { fn: a.fn, index: a.index, trigger: a.trigger } : undefined;
  }

  /** a sync invocation for a webhook call; its trigger's state follows the invocation */
  invokeWebhook(
    w: WebhookTarget,
    payload: Buffer,
    receivedAt: number,
    sink: InvokeSink,
    opts: InvokeOptions = {},
  ): Promise<InvokeOutcome> {
    return this.fires.invoke(w, payload, receivedAt, sink, opts);
  }

  /** a durable async invocation for a webhook called with ?async=1 */
  async submitWebhook(
    w: WebhookTarget,
    payload: Buffer,
    idempotencyKey?: string,
    opts: InvokeOptions = {},
  ): Promise<Submitted> {
    return this.fires.submit(w, Date.now(), {
      payload,
      ...opts,
      source: `webhook:${w.trigger.webhook}`,
      ...(idempotencyKey ? { idempotencyKey: `webhook:${w.fn}:${w.index}:${idempotencyKey}` } : {}),
    });
  }

  async list(fn?: string): Promise<TriggersResponse> {
    const state = new Map((await this.o.repo.list()).map((r) => [`${r.function}#${r.index}`, r]));
    const nats = this.nats.status();
    const rows = [...this.active.values()]
      .flat()
      .filter((a) => fn === undefined || a.fn === fn)
      .sort((x, y) => x.fn.localeCompare(y.fn) || x.index - y.index)
      .map((a) => {
        const s = state.get(`${a.fn}#${a.index}`);
        const fresh = s && s.spec === a.spec ? s : undefined;
        return viewOf({
          function: a.fn,
          version: a.version,
          index: a.index,
          trigger: a.trigger,
          state: this.stateOf(a, nats.state),
          nextFire: a.cron?.nextFireAt() ?? null,
          fires: fresh?.fires ?? 0,
          lastFiredAt: fresh?.lastFiredAt ?? null,
          lastInvocationId: fresh?.lastInvocationId ?? null,
          lastStatus: fresh?.lastStatus ?? null,
          lastError: fresh?.lastError ?? null,
        });
      });
    return { triggers: rows, nats: { ...nats, needed: this.nats.needed } };
  }

  /** no new fires from here on (timers cleared, subscriptions ended); running ones finish */
  stop(): void {
    this.stopped = true;
    for (const list of this.active.values()) for (const a of list) a.cron?.stop();
    this.nats.stopListening();
  }

  /** waits for running fires to be answered and recorded, then closes NATS; safe to call twice */
  async close(): Promise<void> {
    this.stop();
    await this.chain;
    await this.fires.drain();
    await this.nats.close();
  }

  private stateOf(a: Active, nats: string): string {
    switch (a.trigger.kind) {
      case 'cron':
        return a.cron?.nextFireAt() ? 'scheduled' : 'never fires again';
      case 'subject':
        if (a.outside) return `refused: ${a.outside} outside the subject prefix ${this.prefix}`;
        return nats === 'connected' ? 'subscribed' : `waiting for NATS (${nats})`;
      case 'webhook':
        return a.conflictWith ? `conflict: path served by ${a.conflictWith}` : 'ready';
    }
  }

  private apply(fn: string, v: VersionRecord | undefined): void {
    const old = this.active.get(fn) ?? [];
    const wanted = v ? triggersOf(v.manifest) : [];
    const next: Active[] = [];
    for (let i = 0; i < Math.max(old.length, wanted.length); i++) {
      const before = old[i];
      const t = wanted[i];
      const spec = t ? specOf(t) : '';
      if (before && t && before.spec === spec) {
        // Unchanged: keep its timer or subscription; only the version (and a webhook's secret) moves on.
        before.version = v!.version;
        before.trigger = t;
        next.push(before);
        continue;
      }
      if (before) this.stopOne(before);
      if (t) next.push(this.startOne({ fn, version: v!.version, index: i, trigger: t, spec }));
    }
    if (next.length > 0) this.active.set(fn, next);
    else this.active.delete(fn);
  }

  private key(a: Active): string {
    return `${a.fn}#${a.index}`;
  }

  private startOne(a: Active): Active {
    const t = a.trigger;
    if (t.kind === 'cron') {
      a.cron = new CronSchedule(t, (at) => this.fireCron(a, t, at)).start();
    } else if (t.kind === 'subject') {
      a.outside = outsidePrefix(t, a.fn, this.prefix);
      if (a.outside) {
        this.o.logger.warn(
          { function: a.fn, subject: t.subject, prefix: this.prefix },
          'triggers: subject trigger outside the subject prefix; not subscribing',
        );
        return a;
      }
      this.nats.add(this.key(a), {
        subject: t.subject,
        queue: t.queue,
        onMessage: (msg, nc) =>
          this.fires.track(
            replyFor(msg, nc, t, (payload, sink) => this.fires.invoke(a, payload, stamp(), sink)).catch((e) =>
              this.o.logger.warn(
                { function: a.fn, subject: t.subject, err: (e as Error).message },
                'triggers: could not answer a NATS message',
              ),
            ),
          ),
      });
    } else {
      const owner = this.webhooks.get(t.webhook);
      if (owner && owner.fn !== a.fn) {
        a.conflictWith = owner.fn;
        this.o.logger.warn(
          { function: a.fn, webhook: t.webhook, owner: owner.fn },
          'triggers: webhook path already served by another function; not serving it',
        );
      } else this.webhooks.set(t.webhook, a);
    }
    return a;
  }

  private stopOne(a: Active): void {
    const t = a.trigger;
    if (t.kind === 'cron') a.cron?.stop();
    else if (t.kind === 'subject') {
      if (!a.outside) this.nats.remove(this.key(a));
    } else if (this.webhooks.get(t.webhook) === a) {
      this.webhooks.delete(t.webhook);
      // A function that was refused this path (only possible at start-up) gets it now.
      for (const list of this.active.values()) {
        const waiting = list.find(
          (b) => b !== a && b.trigger.kind === 'webhook' && b.trigger.webhook === t.webhook && b.conflictWith,
        );
        if (waiting) {
          waiting.conflictWith = undefined;
          this.webhooks.set(t.webhook, waiting);
          break;
        }
      }
    }
  }

  private fireCron(a: Active, t: CronTrigger, at: Date): void {
    if (this.stopped) return;
    this.fires.track(
      (async () => {
        // Every server runs this schedule: the one whose claim of the tick lands fires it.
        if (!(await this.o.repo.claimTick(a.fn, a.index, at.getTime()))) {
          this.o.logger.debug(
            { fn: a.fn, trigger: a.index, at },
            'triggers: cron tick fired by another server',
          );
          return;
        }
        await this.fires.submit(a, at.getTime(), {
          payload: Buffer.from(t.payload),
          source: 'cron',
          // The scheduled instant names the tick: a second submission of it returns the first.
          idempotencyKey: `cron:${a.fn}:${a.index}:${at.toISOString()}`,
        });
      })().catch((e) => {
        this.o.logger.warn(
          { function: a.fn, trigger: a.index, err: (e as Error).message },
          'triggers: cron tick refused',
        );
      }),
    );
  }
}
