/** `agni token create/ls/rm`: access keys for AWS-signed calls to the Lambda API. */
import type { Command } from 'commander';
import type { AccessKeyInfo, CreatedAccessKey } from '../../app/access-keys.js';
import { AgniError } from '../../core/errors.js';
import { ApiClient } from '../client.js';
import { ago, printJson, printTable } from '../output.js';

export function registerToken(program: Command): void {
  const token = program
    .command('token')
    .description('access keys for AWS-signed calls to the Lambda API (aws CLI, AWS SDKs)')
    .addHelpText(
      'after',
      `
While any access key exists, /2015-03-31/... (the Lambda Invoke API) takes only requests
signed (AWS Signature V4) with one of them; with none, it takes the server's AGNI_TOKEN.
The secret is printed once, by create; the server keeps it sealed with $AGNI_HOME/server.key.

Examples:
  agni token create ci --aws
  agni token ls
  agni token rm ci`,
    );

  token
    .command('create')
    .argument('<name>', 'a name for the key: lowercase letters, digits, _ . and -')
    .option('--aws', 'an AWS access key id and secret access key (the only kind so far)')
    .option('--json', 'print the key as JSON')
    .description('create an access key and print its secret (shown this once)')
    .addHelpText(
      'after',
      `
Examples:
  agni token create ci --aws
  agni token create ci --aws --json | jq -r .secret_access_key
  export AWS_ACCESS_KEY_ID=AGNI... AWS_SECRET_ACCESS_KEY=... AWS_DEFAULT_REGION=us-east-1
  aws lambda invoke --endpoint-url http://127.0.0.1:8780 --function-name wordcount out.json`,
    )
    .action(async (name: string, o: { aws?: boolean; json?: boolean }) => {
      if (!o.aws)
        throw new AgniError('bad_request', 'say which kind of token: --aws (the only kind so far)', {
          hint: `agni token create ${name} --aws`,
        });
      const k = await new ApiClient().json<CreatedAccessKey>('POST', '/v1/tokens', { name, kind: 'aws' });
      if (o.json) return printJson(k);
      process.stdout.write(
        `name                   ${k.name}\n` +
          `aws_access_key_id      ${k.access_key_id}\n` +
          `aws_secret_access_key  ${k.secret_access_key}\n` +
          'The secret is shown this once: keep it now (e.g. `aws configure`).\n',
      );
    });

  token
    .command('ls')
    .option('--json', 'print as JSON')
    .description('list access keys (never their secrets)')
    .addHelpText('after', '\nExamples:\n  agni token ls\n  agni token ls --json')
    .action(async (o: { json?: boolean }) => {
      const { tokens } = await new ApiClient().json<{ tokens: AccessKeyInfo[] }>('GET', '/v1/tokens');
      if (o.json) return printJson(tokens);
      printTable(
        ['NAME', 'KIND', 'ACCESS KEY ID', 'CREATED', 'LAST USED'],
        tokens.map((t) => [
          t.name,
          t.kind,
          t.access_key_id,
          ago(t.created_at),
          t.last_used_at === null ? '-' : ago(t.last_used_at),
        ]),
      );
    });

  token
    .command('rm')
    .argument('<name>', 'the key to remove')
    .option('--json', 'print the result as JSON')
    .description('remove an access key: requests signed with it are refused from now on')
    .addHelpText('after', '\nExamples:\n  agni token rm ci')
    .action(async (name: string, o: { json?: boolean }) => {
      const r = await new ApiClient().json<{ name: string }>(
        'DELETE',
        `/v1/tokens/${encodeURIComponent(name)}`,
      );
      if (o.json) printJson(r);
      else process.stdout.write(`removed access key ${r.name}\n`);
    });
}
