/**
 * Parsers of flag values shared by several verbs, each failing with a message that names the
 * flag. Light on purpose: command definitions import them, and every `agni` run loads those.
 */
import { AgniError } from '../core/errors.js';

export function intOption(flag: string, raw: string, min: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min)
    throw new AgniError(
      'bad_request',
      `${flag}: expected a whole number >= ${min}, got ${JSON.stringify(raw)}`,
    );
  return n;
}

/** commander's parser for a repeatable flag */
export function collect(v: string, prev: string[] | undefined): string[] {
  return [...(prev ?? []), v];
}

/** Repeated flags plus a comma-separated AGNI_* variable. */
export function listOption(flags: string[] = [], env: string | undefined): string[] {
  return [...flags, ...(env ?? '').split(',')].map((x) => x.trim()).filter(Boolean);
}

/** a comma-separated list of some of `allowed` (each once); with `none`, the word none is the empty list */
export function choiceList<T extends string>(
  flag: string,
  raw: string,
  allowed: readonly T[],
  none = false,
): T[] {
  const items = raw
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean);
  if (none && items.length === 1 && items[0] === 'none') return [];
  const bad = items.find((x) => !allowed.includes(x as T));
  if (bad !== undefined || items.length === 0)
    throw new AgniError(
      'bad_request',
      `${flag}: expected a comma-separated list of ${allowed.join(', ')}${none ? ' (or none)' : ''}, got ${JSON.stringify(raw)}`,
    );
  return [...new Set(items)] as T[];
}
