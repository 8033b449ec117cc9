/** `agni alias set/ls/rm` and `agni rollback`: which version runs, without a new upload. */
import type { Command } from 'commander';
import { lazyAction } from '../lazy-action.js';

const actions = () => import('./releases-action.js');

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
    .action(lazyAction(async () => (await actions()).setAlias));

  alias
    .command('ls')
    .argument('<name>', 'function name')
    .option('--json', 'print as JSON')
    .description("list a function's aliases")
    .addHelpText('after', '\nExamples:\n  agni alias ls wordcount\n  agni alias ls wordcount --json')
    .action(lazyAction(async () => (await actions()).listAliases));

  alias
    .command('rm')
    .argument('<name>', 'function name')
    .argument('<alias>', 'alias name')
    .description('remove an alias (calls naming it then fail with alias_not_found)')
    .addHelpText('after', '\nExample:\n  agni alias rm wordcount prod')
    .action(lazyAction(async () => (await actions()).removeAlias));

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
    .action(lazyAction(async () => (await actions()).rollback));
}
