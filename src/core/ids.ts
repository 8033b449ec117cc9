import { randomBytes } from 'node:crypto';

/** Sortable, URL- and runc-safe ids: time prefix (base36) plus randomness. */
export function newId(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}${randomBytes(6).toString('hex')}`;
}
