/** Progress figures of a job (rate, ETA) and their display. Pure: the server and the CLI share them. */

/** Items settled per second since the run started; null until there is something to measure. */
export function rateOf(settledThisRun: number, startedAt: number | null, now: number): number | null {
  if (startedAt === null || settledThisRun <= 0) return null;
  const s = (now - startedAt) / 1000;
  return s > 0 ? settledThisRun / s : null;
}

/** Time left at the current rate; 0 when nothing remains, null when the rate is unknown. */
export function etaMsOf(remaining: number, rate: number | null): number | null {
  if (remaining <= 0) return 0;
  if (rate === null || rate <= 0) return null;
  return Math.round((remaining / rate) * 1000);
}

export function formatRate(rate: number | null): string {
  if (rate === null) return '-/s';
  if (rate >= 100) return `${Math.round(rate)}/s`;
  if (rate >= 1) return `${rate.toFixed(1)}/s`;
  return `${rate.toFixed(2)}/s`;
}

/** 45s, 3m05s, 2h04m; '-' when unknown. */
export function formatEta(ms: number | null): string {
  if (ms === null) return '-';
  const s = Math.round(ms / 1000);
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}
