/**
 * The resource bounds and time limits of `agni up` (flags, else AGNI_* variables, else the defaults of
 * core/limits.ts) parsed into EmbeddedOptions fields. A bad value names its flag or variable.
 */
import { AgniError } from '../core/errors.js';
import { parseMinFree } from '../core/limits.js';
import { parseBytes, parseDuration } from '../core/units.js';
import type { ControlOptions as EmbeddedOptions } from './control.js';

export interface LimitFlags {
  asyncQueue?: string;
  maxOutput?: string;
  maxUnpack?: string;
  maxFiles?: string;
  minFree?: string;
  uploadIdle?: string;
  grace?: string;
}

type LimitFields = Pick<
  EmbeddedOptions,
  | 'maxAsyncQueue'
  | 'maxOutputBytes'
  | 'maxUnpackBytes'
  | 'maxUnpackFiles'
  | 'minFree'
  | 'uploadIdleMs'
  | 'graceMs'
>;

/** the flag's value, else the variable's; with the name to blame */
function pick(flag: string, value: string | undefined, env: string): [string, string] | undefined {
  if (value !== undefined) return [flag, value];
  const v = process.env[env];
  return v ? [env, v] : undefined;
}

function bad(name: string, expected: string, raw: string): AgniError {
  return new AgniError('bad_request', `${name}: expected ${expected}, got ${JSON.stringify(raw)}`);
}

function count(p: [string, string] | undefined): number | undefined {
  if (!p) return undefined;
  const n = Number(p[1]);
  if (!Number.isInteger(n) || n < 1) throw bad(p[0], 'a whole number >= 1', p[1]);
  return n;
}

function bytes(p: [string, string] | undefined): number | undefined {
  if (!p) return undefined;
  const n = parseBytes(p[1]);
  if (typeof n === 'string') throw bad(p[0], n, p[1]);
  return n;
}

/** a duration (500ms, 30s, 5m); `0` turns the bound off where `zeroOff` */
function duration(p: [string, string] | undefined, zeroOff: boolean): number | undefined {
  if (!p) return undefined;
  if (zeroOff && p[1].trim() === '0') return 0;
  const ms = parseDuration(p[1]);
  if (typeof ms === 'string') throw bad(p[0], `${ms}${zeroOff ? ' (0: never)' : ''}`, p[1]);
  return ms;
}

export function limitOptions(f: LimitFlags): LimitFields {
  const minFree = pick('--min-free', f.minFree, 'AGNI_MIN_FREE');
  const parsedMinFree = minFree ? parseMinFree(minFree[1]) : undefined;
  if (typeof parsedMinFree === 'string') throw bad(minFree![0], parsedMinFree, minFree![1]);
  return {
    maxAsyncQueue: count(pick('--async-queue', f.asyncQueue, 'AGNI_ASYNC_QUEUE')),
    maxOutputBytes: bytes(pick('--max-output', f.maxOutput, 'AGNI_MAX_OUTPUT')),
    maxUnpackBytes: bytes(pick('--max-unpack', f.maxUnpack, 'AGNI_MAX_UNPACK')),
    maxUnpackFiles: count(pick('--max-files', f.maxFiles, 'AGNI_MAX_FILES')),
    minFree: parsedMinFree,
    uploadIdleMs: duration(pick('--upload-idle', f.uploadIdle, 'AGNI_UPLOAD_IDLE'), true),
    graceMs: duration(pick('--grace', f.grace, 'AGNI_GRACE'), false),
  };
}
