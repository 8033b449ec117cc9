/**
 * One cron trigger's timer. The next fire time comes from croner (zones, DST); this class only
 * sleeps until then and reports the scheduled instant, which names the run for idempotency.
 * Ticks missed while the server was down, or while the process was stalled, are not back-filled:
 * after a gap the next fire is the first one after now.
 */
import { type CronTrigger, nextFireTime } from '../core/trigger-spec.js';

/** Long sleeps are cut so a wall-clock jump (NTP, suspend) is noticed within this. */
const MAX_SLEEP_MS = 30_000;

export class CronSchedule {
  private timer: NodeJS.Timeout | undefined;
  private next: Date | null = null;
  private stopped = false;

  constructor(
    private readonly trigger: CronTrigger,
    private readonly fire: (scheduledAt: Date) => void,
    private readonly now: () => number = Date.now,
  ) {}

  start(): this {
    this.next = nextFireTime(this.trigger.cron, this.trigger.timezone, new Date(this.now()));
    this.arm();
    return this;
  }

  /** null when the expression never fires again, or once stopped */
  nextFireAt(): Date | null {
    return this.stopped ? null : this.next;
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
  }

  private arm(): void {
    if (this.stopped || !this.next) return;
    const wait = Math.min(Math.max(0, this.next.getTime() - this.now()), MAX_SLEEP_MS);
    this.timer = setTimeout(() => this.tick(), wait);
  }

  private tick(): void {
    if (this.stopped || !this.next) return;
    const now = this.now();
    if (now >= this.next.getTime()) {
      const due = this.next;
      this.next = nextFireTime(
        this.trigger.cron,
        this.trigger.timezone,
        new Date(Math.max(now, due.getTime())),
      );
      this.fire(due);
    }
    this.arm();
  }
}
