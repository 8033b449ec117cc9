/** `agni alias set/ls/rm` and `agni rollback`: which version runs, without a new upload. */
import type { Command } from 'commander';
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

export function registerReleases(program: Command): void {
  const alias = program
    .command('alias')
    .description('named pointers to versions of a function: invoke NAME@ALIAS, optionally split for a canary')
    .addHelpText(
      'after',
      `
A call to NAME@ALIAS runs the version the alias points to when the call starts; with a split,
each call picks one of two versions by weight, and its record names the version that ran.

Examples:
  agni alias set wordcount prod 3
  agni alias set wordcount prod 3 --split 4=10%   # 90% of calls run 3, 10% run 4
  agni invoke wordcount@prod --data "one two"
  agni alias ls wordcount --json
  agni alias rm wordcount prod`,
    );

  alias
    .command('set')
    .argument('<name>', 'function name')
    .argument('<alias>', 'alias name: lowercase letters, digits, _ and -, starting with a letter')
    .argument('<version>', 'the version it points to')
    .option('--split <version=percent>', 'send this share of calls to another version, e.g. 4=10%')
    .option('--json', 'print the stored alias as JSON')
    .description('point an alias of a function at a version (creates or replaces it)')
    .addHelpText(
      'after',
      '\nExamples:\n  agni alias set wordcount prod 3\n  agni alias set wordcount prod 3 --split 4=50%',
    )
    .action(async (name: string, a: string, v: string, o: { split?: string; json?: boolean }) => {
      const version = parseVersionNumber(v, 'VERSION');
      const split = o.split === undefined ? undefined : parseSplit(o.split);
      const r = await new ApiClient().json<FunctionAlias>(
        'PUT',
        `${fnPath(name)}/aliases/${encodeURIComponent(a)}`,
        { version, ...(split ? { split } : {}) },
      );
      if (o.json) return printJson(r);
      process.stdout.write(`${name}@${r.name} -> ${describeRoute(r)}\n`);
    });

  alias
    .command('ls')
    .argument('<name>', 'function name')
    .option('--json', 'print as JSON')
    .description("list a function's aliases")
    .addHelpText('after', '\nExamples:\n  agni alias ls wordcount\n  agni alias ls wordcount --json')
    .action(async (name: string, o: { json?: boolean }) => {
      const { aliases } = await new ApiClient().json<{ aliases: FunctionAlias[] }>(
        'GET',
        `${fnPath(name)}/aliases`,
      );
      if (o.json) return printJson(aliases);
      printTable(
        ['ALIAS', 'VERSION', 'UPDATED'],
        aliases.map((a) => [a.name, describeRoute(a), ago(a.updatedAt)]),
      );
    });

  alias
    .command('rm')
    .argument('<name>', 'function name')
    .argument('<alias>', 'alias name')
    .description('remove an alias (calls naming it then fail with alias_not_found)')
    .addHelpText('after', '\nExample:\n  agni alias rm wordcount prod')
    .action(async (name: string, a: string) => {
      await new ApiClient().json('DELETE', `${fnPath(name)}/aliases/${encodeURIComponent(a)}`);
      process.stdout.write(`removed alias ${a} of ${name}\n`);
    });

  program
    .command('rollback')
    .argument('<name>', 'function name')
    .option('--to <version>', 'the version to make live (default: the newest one older than the live one)')
    .option('--json', 'print the result as JSON')
    .description('make an older version live again, without a new upload')
    .addHelpText(
      'after',
      `
Calls without a version or alias, and triggers without version:/alias:, run the live version.
A rollback moves it; the next deploy makes its new version live again. Aliases do not move.

Examples:
  agni rollback wordcount
  agni rollback wordcount --to 2`,
    )
    .action(async (name: string, o: { to?: string; json?: boolean }) => {
      const to = o.to === undefined ? undefined : parseVersionNumber(o.to, '--to');
      const r = await new ApiClient().json<Rollback>(
        'POST',
        `${fnPath(name)}/rollback`,
        to === undefined ? {} : { to },
      );
      if (o.json) return printJson(r);
      process.stdout.write(`${name}: version ${r.to} is live (was ${r.from})\n`);
    });
}
