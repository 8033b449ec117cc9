/**
 * Resource bounds the operator sets on `agni up`: how much an upload may unpack to, how many async
 * invocations may wait, how much of an async output is kept, how much disk must stay free. Pure:
 * defaults, parsing and the refusals themselves; the I/O that measures lives with its callers.
 */
import { AgniError } from './errors.js';
import { formatBytes, parseBytes } from './units.js';

export interface UnpackLimits {
  /** bytes an upload, rootfs or layer may unpack to (`--max-unpack`) */
  maxBytes: number;
  /** entries (files, dirs, links) it may unpack to (`--max-files`) */
  maxFiles: number;
}

/** free space to keep on $AGNI_HOME's filesystem: an absolute size, or a share of its size */
export type MinFree = { bytes: number } | { percent: number };

export interface ResourceLimits {
  unpack: UnpackLimits;
  /** async invocations accepted and not yet settled (`--async-queue`) */
  maxAsyncQueue: number;
  /** bytes of an async invocation's stdout kept on disk (`--max-output`) */
  maxOutputBytes: number;
  minFree: MinFree;
}

/** high enough for a Debian rootfs (~300 MB, ~20k files) or a scientific Python venv several times over */
export const DEFAULT_LIMITS: ResourceLimits = {
  unpack: { maxBytes: 4 * 1024 ** 3, maxFiles: 200_000 },
  maxAsyncQueue: 10_000,
  maxOutputBytes: 64 * 1024 ** 2,
  minFree: { bytes: 1024 ** 3 },
};

/** `1Gi`, `500M`, or `5%` of the filesystem's size; returns what is expected when it is neither */
export function parseMinFree(raw: string): MinFree | string {
  const pct = /^\s*(\d+(?:\.\d+)?)\s*%\s*$/.exec(raw);
  if (pct) {
    const percent = Number(pct[1]);
    return percent < 100 ? { percent } : 'a percentage below 100%';
  }
  if (/^\s*0\s*$/.test(raw)) return { bytes: 0 };
  const n = parseBytes(raw);
  return typeof n === 'number' ? { bytes: n } : 'a size such as 1Gi or 500M, a percentage such as 5%, or 0';
}

export function minFreeBytes(m: MinFree, totalBytes: number): number {
  return 'bytes' in m ? m.bytes : Math.ceil((totalBytes * m.percent) / 100);
}

export function describeMinFree(m: MinFree): string {
  return 'bytes' in m ? formatBytes(m.bytes) : `${m.percent}%`;
}

/** The refusal when the filesystem has less free space than the operator keeps free. */
export function lowDiskError(what: string, freeBytes: number, min: MinFree, minBytes: number): AgniError {
  return new AgniError(
    'insufficient_storage',
    `${what} refused: the server's disk has ${formatBytes(freeBytes)} free, below the ${describeMinFree(min)}${'percent' in min ? ` (${formatBytes(minBytes)})` : ''} it keeps free (agni up --min-free)`,
    {
      hint: 'free space under $AGNI_HOME (agni image prune, agni rm, agni jobs rm), or lower `agni up --min-free` / AGNI_MIN_FREE',
      details: { free_bytes: freeBytes, min_free_bytes: minBytes, flag: '--min-free' },
    },
  );
}

/**
 * Counts what an extraction writes, entry by entry as the tar streams, so a small compressed
 * upload that expands to fill the disk is stopped at the limit rather than after.
 */
export class UnpackBudget {
  bytes = 0;
  files = 0;

  constructor(
    private readonly limits: UnpackLimits,
    /** what is unpacked, for the message: "the uploaded function", "layer sha256:..." */
    private readonly what: string,
  ) {}

  /** charges one entry of `size` data bytes; the refusal once a limit is passed */
  charge(size: number): AgniError | undefined {
    this.files++;
    this.bytes += Math.max(0, size);
    const { maxBytes, maxFiles } = this.limits;
    if (this.bytes > maxBytes) {
      return new AgniError(
        'payload_too_large',
        `${this.what} unpacks to more than ${formatBytes(maxBytes)}, the server's limit (agni up --max-unpack)`,
        {
          hint: 'make it smaller, or raise `agni up --max-unpack` / AGNI_MAX_UNPACK on the server',
          details: { limit_bytes: maxBytes, flag: '--max-unpack' },
        },
      );
    }
    if (this.files > maxFiles) {
      return new AgniError(
        'payload_too_large',
        `${this.what} unpacks to more than ${maxFiles} files, the server's limit (agni up --max-files)`,
        {
          hint: 'pack fewer files, or raise `agni up --max-files` / AGNI_MAX_FILES on the server',
          details: { limit_files: maxFiles, flag: '--max-files' },
        },
      );
    }
    return undefined;
  }
}
