/**
 * Pure sizing of prewarmed pools: how many prepared sandboxes a version should keep waiting,
 * from its recent demand, its manifest's pool bounds and the node's prewarm budget.
 */

export const DEMAND_WINDOW_MS = 10_000;

export interface DemandSample {
  /** ms (any monotonic clock, the same for every call) */
  t: number;
  /** invocations of the version in flight at `t` */
  inflight: number;
}

/** Appends a sample and drops those older than the window (the input array is not changed). */
export function recordDemand(
  samples: readonly DemandSample[],
  t: number,
  inflight: number,
  windowMs = DEMAND_WINDOW_MS,
): DemandSample[] {
  return [...samples.filter((s) => t - s.t <= windowMs), { t, inflight }];
}

/** Peak in-flight invocations over the last `windowMs` (0 without samples). */
export function peakDemand(
  samples: readonly DemandSample[],
  now: number,
  windowMs = DEMAND_WINDOW_MS,
): number {
  let peak = 0;
  for (const s of samples) if (now - s.t <= windowMs && s.inflight > peak) peak = s.inflight;
  return peak;
}

export interface PoolBounds {
  min: number;
  max: number;
  idleMs: number;
}

/**
 * Sandboxes to keep waiting: recent peak demand clamped to [min, max]; only min once the version
 * has been idle (nothing in flight, last use at least idleMs ago).
 */
export function targetSize(
  bounds: PoolBounds,
  peak: number,
  inflight: number,
  lastUsed: number,
  now: number,
): number {
  const min = Math.max(0, Math.min(bounds.min, bounds.max));
  if (inflight === 0 && now - lastUsed >= bounds.idleMs) return min;
  return Math.min(bounds.max, Math.max(min, peak));
}

export interface Budget {
  /** prepared sandboxes on the node (waiting or being prepared) */
  count: number;
  /** sum of their memory limits */
  memoryBytes: number;
  maxCount: number;
  maxMemoryBytes: number;
}

/** How many more sandboxes of `memoryBytes` each fit in the budget (never negative). */
export function budgetRoom(b: Budget, memoryBytes: number): number {
  const byCount = b.maxCount - b.count;
  const byMemory =
    memoryBytes > 0 ? Math.floor((b.maxMemoryBytes - b.memoryBytes) / memoryBytes) : Number.POSITIVE_INFINITY;
  return Math.max(0, Math.min(byCount, byMemory));
}

/** Sandboxes to add (positive) or remove (negative) to move `have` toward `target` within the budget. */
export function poolDelta(have: number, target: number, room: number): number {
  if (have > target) return target - have;
  return Math.min(target - have, room);
}
