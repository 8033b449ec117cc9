/**
 * `agni secret set/ls/rm`: secrets functions read at /run/secrets/NAME. A value is read from stdin
 * or a file, never from the command line (argv is visible to every user of the machine in ps).
 */
import type { Command } from 'commander';
import { lazyAction } from '../lazy-action.js';

const actions = () => import('./secret-action.js');

export function registerSecret(program: Command): void {
  const secret = program
    .command('secret')
    .description('secrets functions read at /run/secrets/NAME (values never shown again)')
    .addHelpText(
      'after',
      `
A function lists the secrets it needs in agni.yaml:
  secrets: [db_password]                          # the file /run/secrets/db_password
  secrets: [{name: db_password, env: PGPASSWORD}] # and the variable PGPASSWORD
Values are sealed with $AGNI_HOME/server.key; see docs/security.md.

Examples:
  agni secret set db_password < password.txt
  agni secret set tls_key --from-file key.pem
  agni secret ls
  agni secret rm db_password`,
    );

  secret
    .command('set')
    .argument('<name>', 'letters, digits, _ . and -')
    .option('--from-file <file>', 'read the value from this file (default: stdin)')
    .option('--json', 'print the result as JSON')
    .description('create or replace a secret; the value comes from stdin or --from-file')
    .addHelpText(
      'after',
      `
The value is taken as bytes, exactly (a trailing newline is part of it: use printf, not echo).
Replacing a value: sandboxes made from then on get the new one; prewarmed sandboxes and warm
workers of functions that use it are replaced.

Examples:
  printf %s "$PASSWORD" | agni secret set db_password
  agni secret set tls_key --from-file key.pem`,
    )
    .action(lazyAction(async () => (await actions()).set));

  secret
    .command('ls')
    .option('--json', 'print as JSON')
    .description('list secrets: names, sizes, times and users (never values)')
    .addHelpText('after', '\nExamples:\n  agni secret ls\n  agni secret ls --json')
    .action(lazyAction(async () => (await actions()).list));

  secret
    .command('rm')
    .argument('<name>', 'the secret to remove')
    .option('--json', 'print the result as JSON')
    .description('remove a secret (refused while a function uses it)')
    .addHelpText('after', '\nExamples:\n  agni secret rm db_password')
    .action(lazyAction(async () => (await actions()).remove));
}
