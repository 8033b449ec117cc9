/**
 * `agni secret set/ls/rm`: secrets functions read at /run/secrets/NAME. A value is read from stdin
 * or a file, never from the command line (argv is visible to every user of the machine in ps).
 */
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import type { SecretInfo } from '../../app/secrets.js';
import { AgniError } from '../../core/errors.js';
import { MAX_SECRET_BYTES } from '../../core/secret-refs.js';
import { ApiClient, errorFromBody } from '../client.js';
import { ago, printJson, printTable } from '../output.js';

async function readStdin(): Promise<Buffer> {
  if (process.stdin.isTTY)
    process.stderr.write(
      'reading the value from the terminal: type it, then Ctrl-D (it is not echoed back by agni)\n',
    );
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of process.stdin) {
    size += (c as Buffer).length;
    if (size > MAX_SECRET_BYTES)
      throw new AgniError('payload_too_large', `the value on stdin is longer than ${MAX_SECRET_BYTES} bytes`);
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks);
}

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
    .action(async (name: string, o: { fromFile?: string; json?: boolean }) => {
      let value: Buffer;
      if (o.fromFile !== undefined) {
        try {
          value = await readFile(o.fromFile);
        } catch (e) {
          throw new AgniError(
            'bad_request',
            `--from-file: cannot read ${o.fromFile}: ${(e as NodeJS.ErrnoException).code ?? 'error'}`,
          );
        }
      } else value = await readStdin();
      const client = new ApiClient();
      const res = await client.request(
        'PUT',
        `/v1/secrets/${encodeURIComponent(name)}`,
        value,
        'application/octet-stream',
      );
      const text = await client.readAll(res.body);
      if (res.status >= 300) throw errorFromBody(res.status, text);
      const s = JSON.parse(text) as SecretInfo;
      if (o.json) return printJson(s);
      process.stdout.write(
        `${res.status === 201 ? 'created' : 'replaced'} secret ${s.name} (${s.size} bytes)\n`,
      );
    });

  secret
    .command('ls')
    .option('--json', 'print as JSON')
    .description('list secrets: names, sizes, times and users (never values)')
    .addHelpText('after', '\nExamples:\n  agni secret ls\n  agni secret ls --json')
    .action(async (o: { json?: boolean }) => {
      const { secrets } = await new ApiClient().json<{ secrets: SecretInfo[] }>('GET', '/v1/secrets');
      if (o.json) return printJson(secrets);
      printTable(
        ['NAME', 'SIZE', 'UPDATED', 'USED BY'],
        secrets.map((s) => [s.name, s.size, ago(s.updated_at), s.used_by.join(',') || '-']),
      );
    });

  secret
    .command('rm')
    .argument('<name>', 'the secret to remove')
    .option('--json', 'print the result as JSON')
    .description('remove a secret (refused while a function uses it)')
    .addHelpText('after', '\nExamples:\n  agni secret rm db_password')
    .action(async (name: string, o: { json?: boolean }) => {
      const r = await new ApiClient().json<{ name: string }>(
        'DELETE',
        `/v1/secrets/${encodeURIComponent(name)}`,
      );
      if (o.json) printJson(r);
      else process.stdout.write(`removed secret ${r.name}\n`);
    });
}
