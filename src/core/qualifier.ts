/**
 * Which version of a function a call runs: `NAME` (the live version), `NAME@3` (version 3) or
 * `NAME@prod` (what the alias prod points to). One spelling for the CLI, the API paths and JSON
 * fields. Pure: strings in, a Qualifier (or a field-naming error) out.
 */
import { AgniError } from './errors.js';
import { NAME_RE } from './function-name.js';

/**
 * live: the function's live version (the newest deploy, or what `agni rollback` made live);
 * version: that version number; alias: whatever the named alias points to when the call starts.
 */
export type Qualifier =
  | { kind: 'live' }
  | { kind: 'version'; version: number }
  | { kind: 'alias'; alias: string };

export const LIVE: Qualifier = { kind: 'live' };

/** spellings of the live version; no alias may take these names */
export const LIVE_NAMES: readonly string[] = ['$LATEST', 'latest', 'live'];

export const ALIAS_RE = /^[a-z][a-z0-9_-]{0,62}$/;

const ALIAS_RULE = 'lowercase letters, digits, _ and -, starting with a letter, at most 63';

/** undefined when `a` can name an alias, else what is wrong with it */
export function aliasNameProblem(a: string): string | undefined {
  if (LIVE_NAMES.includes(a)) return `${a} is reserved: it means the live version`;
  if (!ALIAS_RE.test(a)) return `expected an alias name: ${ALIAS_RULE}`;
  return undefined;
}

export function checkAliasName(a: string, field: string): string {
  const problem = aliasNameProblem(a);
  if (problem)
    throw new AgniError('bad_request', `${field}: ${JSON.stringify(a)}: ${problem}`, {
      hint: 'e.g. prod, staging, canary',
      details: { field },
    });
  return a;
}

/** a version number as written by a user: a whole number from 1 */
export function parseVersionNumber(s: string, field: string): number {
  const n = /^[1-9][0-9]{0,14}$/.test(s) ? Number(s) : Number.NaN;
  if (!Number.isSafeInteger(n))
    throw new AgniError(
      'bad_request',
      `${field}: expected a version number (1, 2, ...), got ${JSON.stringify(s)}`,
      {
        details: { field },
      },
    );
  return n;
}

/** `3`, `prod`, `$LATEST` (or empty): what follows the `@` */
export function parseQualifier(s: string, field = 'qualifier'): Qualifier {
  if (s === '' || LIVE_NAMES.includes(s)) return LIVE;
  if (/^[0-9]+$/.test(s)) return { kind: 'version', version: parseVersionNumber(s, field) };
  const problem = aliasNameProblem(s);
  if (problem)
    throw new AgniError(
      'bad_request',
      `${field}: ${JSON.stringify(s)}: expected a version number, an alias name or $LATEST`,
      { hint: 'e.g. NAME@3, NAME@prod, NAME@$LATEST', details: { field } },
    );
  return { kind: 'alias', alias: s };
}

export interface Target {
  name: string;
  qualifier: Qualifier;
}

/** `NAME`, `NAME@3`, `NAME@prod`, checked; `field` names where it came from in an error */
export function parseTarget(s: string, field = 'function'): Target {
  const at = s.indexOf('@');
  const name = at < 0 ? s : s.slice(0, at);
  if (!NAME_RE.test(name))
    throw new AgniError('bad_request', `${field}: ${JSON.stringify(s)} is not a function name`, {
      hint: 'NAME, NAME@VERSION or NAME@ALIAS, e.g. wordcount@3 or wordcount@prod',
      details: { field },
    });
  return { name, qualifier: at < 0 ? LIVE : parseQualifier(s.slice(at + 1), field) };
}

/** the inverse of parseTarget: NAME for the live version */
export function formatTarget(name: string, q: Qualifier): string {
  if (q.kind === 'version') return `${name}@${q.version}`;
  if (q.kind === 'alias') return `${name}@${q.alias}`;
  return name;
}
