/**
 * Servers sharing one database, and the sync invocations each is running. A sync call lives in
 * the memory of the server that took it: its row says `owner` (that server's instance id) and
 * the server beats `server_instances.seen_at` every third of the lease. Recovery fails a
 * queued/running sync row only when its owner cannot be running it any more:
 * - at start, rows of this same instance id (its previous life) and rows from before owners;
 * - at start and then every beat, rows of an owner silent for longer than the lease.
 * Another server starting never touches the calls of a server that beats. Instance ids must be
 * unique among live servers; a stable one (e.g. host:port) lets a restart clean its own at once.
 */
import type { Logger } from 'pino';
import { DEFAULT_INSTANCE_LEASE_MS } from './sql-store.js';
import type { Store } from './store.js';

export const INTERRUPTED = 'interrupted: the server stopped while it ran';

export class ServerInstance {
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;

  constructor(
    private readonly store: Pick<Store, 'beat' | 'failUnfinished'>,
    private readonly o: { logger: Logger; leaseMs?: number },
  ) {}

  private get leaseMs(): number {
    return this.o.leaseMs ?? DEFAULT_INSTANCE_LEASE_MS;
  }

  /** says this server is alive, fails what dead servers (and this one's last life) left; returns how many */
  async start(): Promise<number> {
    await this.store.beat(Date.now());
    const failed = await this.store.failUnfinished(INTERRUPTED, { leaseMs: this.leaseMs });
    this.timer = setInterval(() => {
      this.beating ??= this.beatAndSweep().finally(() => {
        this.beating = undefined;
      });
    }, this.leaseMs / 3);
    this.timer.unref();
    return failed;
  }

  private async beatAndSweep(): Promise<void> {
    try {
      await this.store.beat(Date.now());
      const failed = await this.store.failUnfinished(INTERRUPTED, { own: false, leaseMs: this.leaseMs });
      if (failed)
        this.o.logger.warn({ failed }, 'sync invocations of a server that stopped beating marked failed');
    } catch (e) {
      // The database is away: the next beat tries again.
      this.o.logger.debug({ err: (e as Error).message }, 'server instance: beat failed');
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.beating;
  }
}
