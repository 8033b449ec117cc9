/**
 * Which byte-count events of a pull or push go to the client: a few a second per blob are enough
 * for a bar, but each blob's first and last must pass, or a fast blob never gets a bar at all.
 */
export class ProgressThrottle {
  private readonly last = new Map<string, number>();

  constructor(private readonly intervalMs = 100) {}

  pass(event: object, now = Date.now()): boolean {
    const e = event as { digest?: unknown; done?: unknown; total?: unknown };
    const key = String(e.digest);
    const prev = this.last.get(key);
    const final = typeof e.done === 'number' && typeof e.total === 'number' && e.done >= e.total;
    if (prev !== undefined && !final && now - prev < this.intervalMs) return false;
    this.last.set(key, now);
    return true;
  }
}
