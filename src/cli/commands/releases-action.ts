/**
 * What `agni alias set/ls/rm` and `agni rollback` do, imported only when one of them runs
 * (lazy-action.ts); their arguments, options and help are in releases.ts.
 */
import type { Rollback } from '../../app/releases.js';
import { formatSplit, parseSplit } from '../../core/alias-split.js';
import { parseVersionNumber } from '../../core/qualifier.js';
import type { FunctionAlias } from '../../store/function-alias-repo.js';
import { ApiClient } from '../client.js';
import { ago, printJson, printTable } from '../output.js';

const fnPath = (name: string) => `/v1/functions/${encodeURIComponent(name)}`;

function describeRoute(a: FunctionAlias): string {
  if (!a.split) return `${a.version}`;
  const main = Number(((1 - a.split.weight) * 100).toFixed(4));
  return `${a.version} (${main}%), ${formatSplit(a.split)}`;
}

export async function setAlias(
  name: string,
  a: string,
  v: string,
  o: { split?: string; json?: boolean },
): Promise<void> {
  const version = parseVersionNumber(v, 'VERSION');
  const split = o.split === undefined ? undefined : parseSplit(o.split);
  const r = await new ApiClient().json<FunctionAlias>(
    'PUT',
    `${fnPath(name)}/aliases/${encodeURIComponent(a)}`,
    { version, ...(split ? { split } : {}) },
  );
  if (o.json) return printJson(r);
  process.stdout.write(`${name}@${r.name} -> ${describeRoute(r)}\n`);
}

export async function listAliases(name: string, o: { json?: boolean }): Promise<void> {
  const { aliases } = await new ApiClient().json<{ aliases: FunctionAlias[] }>(
    'GET',
    `${fnPath(name)}/aliases`,
  );
  if (o.json) return printJson(aliases);
  printTable(
    ['ALIAS', 'VERSION', 'UPDATED'],
    aliases.map((a) => [a.name, describeRoute(a), ago(a.updatedAt)]),
  );
}

export async function removeAlias(name: string, a: string): Promise<void> {
  await new ApiClient().json('DELETE', `${fnPath(name)}/aliases/${encodeURIComponent(a)}`);
  process.stdout.write(`removed alias ${a} of ${name}\n`);
}

export async function rollback(name: string, o: { to?: string; json?: boolean }): Promise<void> {
  const to = o.to === undefined ? undefined : parseVersionNumber(o.to, '--to');
  const r = await new ApiClient().json<Rollback>(
    'POST',
    `${fnPath(name)}/rollback`,
    to === undefined ? {} : { to },
  );
  if (o.json) return printJson(r);
  process.stdout.write(`${name}: version ${r.to} is live (was ${r.from})\n`);
}
