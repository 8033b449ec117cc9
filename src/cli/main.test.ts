import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Command } from 'commander';
import { program } from './main.js';

/** Every command of the program, groups (e.g. `image`) and their subcommands alike, with its path. */
export function allCommands(cmd: Command = program, path: string[] = []): { path: string; cmd: Command }[] {
  // As `--help` lists them: hidden ones (kept for old scripts) are no verbs to document.
  return cmd
    .createHelp()
    .visibleCommands(cmd)
    .filter((c) => c.name() !== 'help')
    .flatMap((c) => [
      { path: [...path, c.name()].join(' '), cmd: c },
      ...allCommands(c, [...path, c.name()]),
    ]);
}

/** What `agni PATH --help` prints, including the text added after the options. */
function helpOf(cmd: Command): string {
  let out = '';
  cmd.configureOutput({ writeOut: (s) => (out += s), writeErr: (s) => (out += s) });
  cmd.outputHelp();
  return out;
}

test('every command’s --help has examples', () => {
  const commands = allCommands();
  assert.ok(commands.length > 30, `walked ${commands.length} commands`);
  const lacking = commands.filter(({ cmd }) => !/^Examples?:\n {2}\S/m.test(helpOf(cmd))).map((c) => c.path);
  assert.deepEqual(lacking, [], `commands whose --help has no "Examples:" section: ${lacking.join(', ')}`);
  assert.match(helpOf(program), /^Quick tour:\n {2}agni up/m);
});
