import { availableParallelism, homedir } from 'node:os';
import { join } from 'node:path';
import { AgniError } from '../core/errors.js';
import { parseBytes } from '../core/units.js';

export const DEFAULT_PORT = 8780;
export const DEFAULT_URL = `http://127.0.0.1:${DEFAULT_PORT}`;

export function agniHome(): string {
  return process.env.AGNI_HOME || join(homedir(), '.agni');
}

export function defaultSlots(): number {
  return availableParallelism();
}

export function maxPayloadBytes(): number {
  const raw = process.env.AGNI_MAX_PAYLOAD;
  if (!raw) return 16 * 1024 * 1024;
  const n = parseBytes(raw);
  if (typeof n === 'string')
    throw new AgniError('bad_request', `AGNI_MAX_PAYLOAD: expected ${n}, got ${JSON.stringify(raw)}`);
  return n;
}
