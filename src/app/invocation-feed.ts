/**
 * The in-process invocation event feed: the Invoker publishes, readers subscribe. A listener that
 * throws is logged away from the others (one broken reader must not fail an invocation).
 */
import type {
  InvocationEvent,
  InvocationEventSink,
  InvocationEventSource,
  InvocationListener,
} from '../core/invocation-events.js';

export class InvocationFeed implements InvocationEventSink, InvocationEventSource {
  private readonly listeners = new Set<InvocationListener>();

  constructor(private readonly onListenerError: (e: unknown) => void = () => {}) {}

  publish(e: InvocationEvent): void {
    for (const l of [...this.listeners]) {
      try {
        l(e);
      } catch (err) {
        this.onListenerError(err);
      }
    }
  }

  subscribe(listener: InvocationListener): () => void {
    // A wrapper of its own, so the same function subscribed twice is two subscriptions.
    const own: InvocationListener = (e) => listener(e);
    this.listeners.add(own);
    return () => {
      this.listeners.delete(own);
    };
  }

  /** subscribers now (a stream that ended must have left: checked by tests) */
  get size(): number {
    return this.listeners.size;
  }
}
