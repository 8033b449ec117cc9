/**
 * A pull writes its blobs before the record that references them, so a prune running in between
 * would take blobs that are about to be needed. Work that adds content runs `shared` (any number
 * at once); a prune or removal runs `exclusive`: it waits for the running ones to finish, and work
 * arriving meanwhile waits for it. In-process only: one server owns an $AGNI_HOME. Shared work
 * nested in shared work (a build that pulls its base) runs at once: waiting there for a pending
 * collection, which itself waits for the outer work, would deadlock.
 */
import { AsyncLocalStorage } from 'node:async_hooks';

export class GcGate {
  private readonly inside = new AsyncLocalStorage<true>();
  private active = 0;
  private collecting: Promise<unknown> | undefined;
  private idle: (() => void) | undefined;

  async shared<T>(fn: () => Promise<T>): Promise<T> {
    if (this.inside.getStore()) return fn();
    while (this.collecting) await this.collecting.catch(() => {});
    this.active++;
    try {
      return await this.inside.run(true, fn);
    } finally {
      this.active--;
      if (this.active === 0) this.idle?.();
    }
  }

  async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    while (this.collecting) await this.collecting.catch(() => {});
    const run = (async () => {
      if (this.active > 0) await new Promise<void>((r) => (this.idle = r));
      this.idle = undefined;
      return fn();
    })();
    this.collecting = run;
    try {
      return await run;
    } finally {
      if (this.collecting === run) this.collecting = undefined;
    }
  }

  /** work holding the gate shared right now (for tests and diagnostics) */
  get busy(): number {
    return this.active;
  }
}
