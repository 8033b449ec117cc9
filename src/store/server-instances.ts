/**
 * Servers sharing one database, and the sync invocations each is running. A sync call lives in
 * the memory of the server that took it: its row says `owner` (that server's instance id) and
 * the server beats `server_instances.seen_at` every third of the lease. Recovery fails a
 * queued/running sync row only when its owner cannot be running it any more:
 * - at start, rows of this same instance id (its previous life) and rows from before owners;
 * - at every beat, rows of an owner silent for longer than the lease, once this server itself
 *   has beaten without a miss for a whole lease: after a database outage every server's beat is
 *   old, and each must have had its chance to beat again before any is judged gone.
 * Another server starting never touches the calls of a server that beats. Instance ids must be
 * unique among live servers; a stable one (e.g. host:port) lets a restart clean its own at once.
 */
import type { Logger } from 'pino';
import { DEFAULT_INSTANCE_LEASE_MS } from './sql-store.js';
import type { Store } from './store.js';

export const INTERRUPTED = 'interrupted: the server stopped while it ran';
export const GONE = 'interrupted: the server running it stopped (no heartbeat)';

export class ServerInstance {
  private timer: NodeJS.Timeout | undefined;
  private beating: Promise<void> | undefined;
  /** when the current run of beats without a miss began */
  private beatingSince: number | undefined;

  constructor(
    private readonly store: Pick<Store, 'beat' | 'failUnfinished'>,
    private readonly o: { logger: Logger; leaseMs?: number },
  ) {}

  private get leaseMs(): number {
    return this.o.leaseMs ?? DEFAULT_INSTANCE_LEASE_MS;
  }

  /** says this server is alive, fails what dead servers (and this one's last life) left; returns how many */
  async start(): Promise<number> {
    this.beatingSince = Date.now();
    await this.store.beat(this.beatingSince);
    const failed = await this.store.failUnfinished(INTERRUPTED, { scope: 'own' });
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
      const now = Date.now();
      await this.store.beat(now);
      this.beatingSince ??= now;
      if (now - this.beatingSince < this.leaseMs) return;
      const failed = await this.store.failUnfinished(GONE, { scope: 'gone', leaseMs: this.leaseMs, now });
      if (failed)
        this.o.logger.warn({ failed }, 'sync invocations of a server that stopped beating marked failed');
    } catch (e) {
      // The database is away: the next beat tries again, and a lease of beats comes before a sweep.
      this.beatingSince = undefined;
      this.o.logger.debug({ err: (e as Error).message }, 'server instance: beat failed');
    }
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.beating;
  }
}
