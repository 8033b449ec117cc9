/**
 * `agni token create/ls/revoke`: named API tokens with scopes (bearer), and access keys for
 * AWS-signed calls to the Lambda API (`--aws`). Both are shown once, by create.
 */
import type { Command } from 'commander';
import { lazyAction } from '../lazy-action.js';

const actions = () => import('./token-action.js');

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
    .action(lazyAction(async () => (await actions()).create));

  token
    .command('ls')
    .option('--json', 'print as JSON')
    .description('list tokens and access keys (never the tokens or secrets themselves)')
    .addHelpText('after', '\nExamples:\n  agni token ls\n  agni token ls --json')
    .action(lazyAction(async () => (await actions()).list));

  token
    .command('revoke')
    .alias('rm')
    .argument('<name>', 'the token or access key to revoke')
    .option('--json', 'print the result as JSON')
    .description('revoke a token or access key: requests with it are refused from now on')
    .addHelpText('after', '\nExamples:\n  agni token revoke ci\n  agni token rm ci   # the same')
    .action(lazyAction(async () => (await actions()).revoke));
}
