/**
 * A sync call's events, held until its record is in the store (its insert is lazy: insert-gate.ts),
 * then passed on in order. Whoever follows the feed (`agni logs -f`, the dashboard) may look up an
 * invocation as soon as it hears of it: before, a short call's `received` came up to 20 ms before
 * its row, and such a lookup answered 404.
 */
import type { InvocationEvent, InvocationEventSink } from '../core/invocation-events.js';

export class EventHold implements InvocationEventSink {
  private held: InvocationEvent[] | undefined = [];

  constructor(private readonly sink: InvocationEventSink | undefined) {}

  publish(e: InvocationEvent): void {
    if (this.held) this.held.push(e);
    else this.sink?.publish(e);
  }

  /** the record is in (or never will be): what was held goes on, and the rest as it comes */
  release(): void {
    const held = this.held;
    this.held = undefined;
    for (const e of held ?? []) this.sink?.publish(e);
  }
}
