/**
 * One fire of a trigger, and its record: a sync invocation (subject, webhook) or a durable async
 * submission (cron, webhook ?async=1), with the trigger's state written as it starts and as it
 * ends. Recording never fails the invocation it describes.
 */
import type { Logger } from 'pino';
import type { InvokeOptions, InvokeOutcome, Invoker, InvokeSink } from '../app/invoker.js';
import { isAgniError } from '../core/errors.js';
import { type Trigger, triggerQualifier } from '../core/trigger-spec.js';
import type { InvocationRecord } from '../store/store.js';
import type { TriggerStateRepo } from '../store/trigger-state.js';
import type { AsyncSubmitter, Submitted } from './async-types.js';
import { isJobSource } from './jobs-types.js';
import { resultError } from './trigger-view.js';

/** settled async invocations remembered briefly, for one that settles before its fire is recorded */
const RECENT_SETTLED = 256;

export interface FireTarget {
  fn: string;
  index: number;
  /** its `version:` or `alias:` says which version a fire runs (default: the live one) */
  trigger: Trigger;
}

export class TriggerFires {
  private readonly inflight = new Set<Promise<unknown>>();
  private readonly recentlySettled = new Map<string, InvocationRecord>();
  private unsubscribe: (() => void) | undefined;

  constructor(
    private readonly invoker: Invoker,
    private readonly submitter: AsyncSubmitter,
    private readonly repo: TriggerStateRepo,
    private readonly logger: Logger,
  ) {}

  /** follows async invocations to their end, so a trigger's last result is the final one */
  listen(): void {
    this.unsubscribe ??= this.submitter.onSettled((rec, how) => {
      // A job's item is never a trigger's fire: no look in the store for it (one per item).
      if (isJobSource(how?.source)) return;
      this.recentlySettled.set(rec.id, rec);
      if (this.recentlySettled.size > RECENT_SETTLED)
        this.recentlySettled.delete(this.recentlySettled.keys().next().value!);
      this.track(this.safe(this.repo.settled(rec.id, rec.status, resultError(rec))));
    });
  }

  /** waits for fires under way to be answered and recorded; then stops listening */
  async drain(): Promise<void> {
    while (this.inflight.size > 0) await Promise.allSettled([...this.inflight]);
    this.unsubscribe?.();
  }

  /** keeps `p` (a fire under way) for drain(); its failure is the caller's to report */
  track<T>(p: Promise<T>): void {
    const q = p.catch(() => undefined).finally(() => this.inflight.delete(q));
    this.inflight.add(q);
  }

  async submit(
    t: FireTarget,
    at: number,
    req: { payload: Buffer; source: string; idempotencyKey?: string } & InvokeOptions,
  ): Promise<Submitted> {
    let s: Submitted;
    try {
      s = await this.submitter.submit({ function: t.fn, qualifier: triggerQualifier(t.trigger), ...req });
    } catch (e) {
      await this.safe(
        this.repo.fired(t.fn, t.index, at, { invocationId: null, status: 'rejected', error: errText(e) }),
      );
      throw e;
    }
    const id = s.record.id;
    await this.safe(
      this.repo.fired(t.fn, t.index, at, { invocationId: id, status: s.record.status, error: null }),
    );
    // It may have settled before the line above was written; then that write is its last word.
    const done = this.recentlySettled.get(id);
    if (done) await this.safe(this.repo.settled(id, done.status, resultError(done)));
    return s;
  }

  async invoke(
    t: FireTarget,
    payload: Buffer,
    receivedAt: number,
    sink: InvokeSink,
    opts: InvokeOptions = {},
  ): Promise<InvokeOutcome> {
    const at = Date.now();
    let recorded: Promise<void> | undefined;
    let id: string | undefined;
    try {
      const out = await this.invoker.invoke(
        t.fn,
        payload,
        receivedAt,
        {
          ...sink,
          onQueued: (invocationId, ran, record) => {
            // The trigger's state names the invocation once its record exists (a short call's at its
            // end): whoever reads it may look the invocation up at once. One whose record could not
            // be written fails with the store's error, recorded below as a rejected fire.
            recorded = (record?.stored() ?? Promise.resolve()).then(
              () => {
                id = invocationId;
                return this.safe(
                  this.repo.fired(t.fn, t.index, at, { invocationId, status: 'running', error: null }),
                );
              },
              () => undefined,
            );
            sink.onQueued?.(invocationId, ran, record);
          },
        },
        { ...opts, qualifier: triggerQualifier(t.trigger) },
      );
      await recorded;
      await this.safe(this.repo.settled(out.record.id, out.record.status, resultError(out.record)));
      return out;
    } catch (e) {
      await recorded;
      if (id) await this.safe(this.repo.settled(id, 'error', errText(e)));
      else
        await this.safe(
          this.repo.fired(t.fn, t.index, at, { invocationId: null, status: 'rejected', error: errText(e) }),
        );
      throw e;
    }
  }

  private async safe(p: Promise<void>): Promise<void> {
    try {
      await p;
    } catch (e) {
      this.logger.error({ err: e }, 'triggers: could not record trigger state');
    }
  }
}

function errText(e: unknown): string {
  if (isAgniError(e)) return `${e.code}: ${e.message}`;
  return e instanceof Error ? e.message : String(e);
}
