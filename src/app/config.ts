import { availableParallelism, homedir } from 'node:os';
import { join } from 'node:path';
import { AgniError } from '../core/errors.js';
import { parseBytes } from '../core/units.js';

export const DEFAULT_PORT = 8780;
export const DEFAULT_URL = `http://127.0.0.1:${DEFAULT_PORT}`;
/** NATS of subject triggers (`agni up`) and agents (`agni agent`) when no flag or $AGNI_NATS_URL names one */
export const DEFAULT_NATS_URL = 'nats://127.0.0.1:4222';

export function agniHome(): string {
  return process.env.AGNI_HOME || join(homedir(), '.agni');
}

export function defaultSlots(): number {
  return availableParallelism();
}

/** a size (16Mi, 1G, bytes) from the environment variable `name`, else `fallback` */
export function envBytes(name: string, fallback: number): number {
  const raw = process.env[name];
  if (!raw) return fallback;
  const n = parseBytes(raw);
  if (typeof n === 'string')
    throw new AgniError('bad_request', `${name}: expected ${n}, got ${JSON.stringify(raw)}`);
  return n;
}

export function maxPayloadBytes(): number {
  return envBytes('AGNI_MAX_PAYLOAD', 16 * 1024 * 1024);
}
