/**
 * A function alias points to one version, or splits calls between two by weight (a canary). Pure:
 * the random source is given, so a test can seed it.
 */
import { AgniError } from './errors.js';
import { parseVersionNumber } from './qualifier.js';

export interface AliasSplit {
  /** the other version */
  version: number;
  /** the share of calls it takes, strictly between 0 and 1 */
  weight: number;
}

export interface AliasRoute {
  version: number;
  split?: AliasSplit;
}

/** the version one call runs: `split.version` with probability `split.weight`, else `version` */
export function pickVersion(route: AliasRoute, random: () => number): number {
  if (route.split && random() < route.split.weight) return route.split.version;
  return route.version;
}

/** a weight in the API: a number strictly between 0 and 1 */
export function checkWeight(w: number, field: string): number {
  if (!Number.isFinite(w) || w <= 0 || w >= 1)
    throw new AgniError('bad_request', `${field}: expected a share strictly between 0 and 1, got ${w}`, {
      hint: 'e.g. 0.1 sends a tenth of the calls to the other version',
      details: { field },
    });
  return w;
}

/** `4=10%` or `4=0.1`: version 4 takes a tenth of the calls (`agni alias set --split`) */
export function parseSplit(s: string, field = '--split'): AliasSplit {
  const m = /^([^=]+)=([0-9]*\.?[0-9]+)(%?)$/.exec(s.trim());
  if (!m)
    throw new AgniError(
      'bad_request',
      `${field} ${JSON.stringify(s)}: expected VERSION=PERCENT%, e.g. 4=10%`,
      {
        details: { field },
      },
    );
  const label = `${field} ${JSON.stringify(s)}`;
  const version = parseVersionNumber(m[1]!, label);
  const n = Number(m[2]);
  return { version, weight: checkWeight(m[3] ? n / 100 : n, label) };
}

/** the split as a user writes it: `4=10%` */
export function formatSplit(s: AliasSplit): string {
  return `${s.version}=${Number((s.weight * 100).toFixed(4))}%`;
}

/** checks a route against the versions that exist, naming the field that is wrong */
export function checkRoute(route: AliasRoute, exists: (v: number) => boolean, fn: string): void {
  if (!exists(route.version))
    throw new AgniError('version_not_found', `field \`version\`: ${fn} has no version ${route.version}`, {
      hint: `list its versions with \`agni versions ${fn}\``,
      details: { field: 'version' },
    });
  if (!route.split) return;
  if (route.split.version === route.version)
    throw new AgniError(
      'bad_request',
      `field \`split.version\`: the split must name another version than ${route.version}`,
      {
        details: { field: 'split.version' },
      },
    );
  if (!exists(route.split.version))
    throw new AgniError(
      'version_not_found',
      `field \`split.version\`: ${fn} has no version ${route.split.version}`,
      {
        hint: `list its versions with \`agni versions ${fn}\``,
        details: { field: 'split.version' },
      },
    );
}
