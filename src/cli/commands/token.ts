/**
 * `agni token create/ls/revoke`: named API tokens with scopes (bearer), and access keys for
 * AWS-signed calls to the Lambda API (`--aws`). Both are shown once, by create.
 */
import type { Command } from 'commander';
import type { AccessKeyInfo, CreatedAccessKey } from '../../app/access-keys.js';
import type { ApiTokenInfo, CreatedApiToken } from '../../app/api-tokens.js';
import { AgniError } from '../../core/errors.js';
import { ApiClient } from '../client.js';
import { ago, printJson, printTable } from '../output.js';

type TokenInfo = ApiTokenInfo | AccessKeyInfo;

const collect = (v: string, prev: string[]) => [...prev, v];

export function registerToken(program: Command): void {
  const token = program
    .command('token')
    .description('API tokens with scopes, and access keys for AWS-signed calls to the Lambda API')
    .addHelpText(
      'after',
      `
Scopes: admin (everything), deploy (deploy, roll back, images), invoke (call functions);
deploy and invoke may be limited to functions: invoke:fn1,fn2. The server's own token
(the AGNI_TOKEN agni up started with) is an admin token. While any token exists (or a server token
is set), every call needs one. See docs/security.md for what each route needs.

While any access key (--aws) exists, /2015-03-31/... (the Lambda Invoke API) takes only
requests signed (AWS Signature V4) with one of them; a signed request has the invoke scope.

Examples:
  agni token create ci --scope deploy
  agni token create caller --scope invoke:wordcount,upper
  agni token create lambda-ci --aws
  agni token ls
  agni token revoke ci`,
    );

  token
    .command('create')
    .argument('<name>', 'a name for the token: lowercase letters, digits, _ . and -')
    .option(
      '--scope <scope>',
      'admin, deploy, invoke, or deploy:FN,... / invoke:FN,... (repeatable)',
      collect,
      [],
    )
    .option('--aws', 'an AWS access key id and secret access key (for the Lambda API) instead')
    .option('--json', 'print the token as JSON')
    .description('create a token and print it (shown this once)')
    .addHelpText(
      'after',
      `
Examples:
  agni token create ci --scope deploy --scope invoke
  export AGNI_TOKEN=$(agni token create caller --scope invoke:wordcount --json | jq -r .token)
  agni token create ci --aws
  export AWS_ACCESS_KEY_ID=AGNI... AWS_SECRET_ACCESS_KEY=... AWS_DEFAULT_REGION=us-east-1
  aws lambda invoke --endpoint-url http://127.0.0.1:8780 --function-name wordcount out.json`,
    )
    .action(async (name: string, o: { scope: string[]; aws?: boolean; json?: boolean }) => {
      if (o.aws && o.scope.length > 0)
        throw new AgniError(
          'bad_request',
          '--aws and --scope: choose one (an access key has the invoke scope)',
          {
            hint: `agni token create ${name} --aws`,
          },
        );
      if (!o.aws && o.scope.length === 0)
        throw new AgniError(
          'bad_request',
          'say what the token may do: --scope admin|deploy|invoke[:FN,...] (or --aws)',
          {
            hint: `agni token create ${name} --scope invoke`,
          },
        );
      const client = new ApiClient();
      if (o.aws) {
        const k = await client.json<CreatedAccessKey>('POST', '/v1/tokens', { name, kind: 'aws' });
        if (o.json) return printJson(k);
        process.stdout.write(
          `name                   ${k.name}\n` +
            `aws_access_key_id      ${k.access_key_id}\n` +
            `aws_secret_access_key  ${k.secret_access_key}\n` +
            'The secret is shown this once: keep it now (e.g. `aws configure`).\n',
        );
        return;
      }
      const t = await client.json<CreatedApiToken>('POST', '/v1/tokens', { name, scopes: o.scope });
      // Without AGNI_TOKEN this was an open server: from now on it needs a token for every call.
      if (!process.env.AGNI_TOKEN)
        process.stderr.write(
          'note: the server now needs a token for every call; keep an admin token (agni token create NAME --scope admin)\n',
        );
      if (o.json) return printJson(t);
      process.stdout.write(
        `name    ${t.name}\nscopes  ${t.scopes.join(' ')}\ntoken   ${t.token}\n` +
          'The token is shown this once: keep it now (e.g. export AGNI_TOKEN=...).\n',
      );
    });

  token
    .command('ls')
    .option('--json', 'print as JSON')
    .description('list tokens and access keys (never the tokens or secrets themselves)')
    .addHelpText('after', '\nExamples:\n  agni token ls\n  agni token ls --json')
    .action(async (o: { json?: boolean }) => {
      const { tokens } = await new ApiClient().json<{ tokens: TokenInfo[] }>('GET', '/v1/tokens');
      if (o.json) return printJson(tokens);
      printTable(
        ['NAME', 'KIND', 'SCOPES', 'CREATED', 'LAST USED'],
        tokens.map((t) => [
          t.name,
          t.kind,
          t.kind === 'aws' ? `invoke (${t.access_key_id})` : t.scopes.join(' '),
          ago(t.created_at),
          t.last_used_at === null ? '-' : ago(t.last_used_at),
        ]),
      );
    });

  token
    .command('revoke')
    .alias('rm')
    .argument('<name>', 'the token or access key to revoke')
    .option('--json', 'print the result as JSON')
    .description('revoke a token or access key: requests with it are refused from now on')
    .addHelpText('after', '\nExamples:\n  agni token revoke ci\n  agni token rm ci   # the same')
    .action(async (name: string, o: { json?: boolean }) => {
      const r = await new ApiClient().json<{ name: string; kind: string }>(
        'DELETE',
        `/v1/tokens/${encodeURIComponent(name)}`,
      );
      if (o.json) printJson(r);
      else process.stdout.write(`revoked ${r.kind === 'aws' ? 'access key' : 'token'} ${r.name}\n`);
    });
}
