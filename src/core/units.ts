/** Parsing of the human units accepted in agni.yaml. Pure; errors are returned as messages. */

const BYTE_UNITS: Record<string, number> = {
  '': 1,
  b: 1,
  k: 1000,
  kb: 1000,
  ki: 1024,
  kib: 1024,
  m: 1000 ** 2,
  mb: 1000 ** 2,
  mi: 1024 ** 2,
  mib: 1024 ** 2,
  g: 1000 ** 3,
  gb: 1000 ** 3,
  gi: 1024 ** 3,
  gib: 1024 ** 3,
};

export function parseBytes(input: string | number): number | string {
  if (typeof input === 'number')
    return Number.isInteger(input) && input > 0 ? input : 'a positive whole number of bytes';
  const m = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(input);
  const unit = m?.[2]?.toLowerCase() ?? '';
  const mult = BYTE_UNITS[unit];
  if (!m || mult === undefined) return 'a size such as 128Mi, 1Gi, 512M or a number of bytes';
  const n = Math.round(Number(m[1]) * mult);
  return n > 0 ? n : 'a size greater than zero';
}

const DURATION_UNITS: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 };

export function parseDuration(input: string | number): number | string {
  if (typeof input === 'number') return input > 0 ? Math.round(input * 1000) : 'a positive number of seconds';
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$/.exec(input);
  if (!m) return 'a duration such as 500ms, 30s, 5m or 1h';
  const ms = Math.round(Number(m[1]) * DURATION_UNITS[m[2]!]!);
  return ms > 0 ? ms : 'a duration greater than zero';
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB', 'TiB'];
  let v = n / 1024;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[i]}`;
}

export function formatMs(ms: number): string {
  if (ms < 1) return `${(ms * 1000).toFixed(0)}µs`;
  if (ms < 1000) return `${ms.toFixed(ms < 10 ? 2 : 1)}ms`;
  return `${(ms / 1000).toFixed(2)}s`;
}
