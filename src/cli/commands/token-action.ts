/**
 * What `agni token create/ls/revoke` do, imported only when one of them runs (lazy-action.ts); their
 * arguments, options and help are in token.ts.
 */
import type { AccessKeyInfo, CreatedAccessKey } from '../../app/access-keys.js';
import type { ApiTokenInfo, CreatedApiToken } from '../../app/api-tokens.js';
import { AgniError } from '../../core/errors.js';
import { ApiClient } from '../client.js';
import { ago, printJson, printTable } from '../output.js';

type TokenInfo = ApiTokenInfo | AccessKeyInfo;

export async function create(
  name: string,
  o: { scope: string[]; aws?: boolean; json?: boolean },
): Promise<void> {
  if (o.aws && o.scope.length > 0)
    throw new AgniError('bad_request', '--aws and --scope: choose one (an access key has the invoke scope)', {
      hint: `agni token create ${name} --aws`,
    });
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
}

export async function list(o: { json?: boolean }): Promise<void> {
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
}

export async function revoke(name: string, o: { json?: boolean }): Promise<void> {
  const r = await new ApiClient().json<{ name: string; kind: string }>(
    'DELETE',
    `/v1/tokens/${encodeURIComponent(name)}`,
  );
  if (o.json) printJson(r);
  else process.stdout.write(`revoked ${r.kind === 'aws' ? 'access key' : 'token'} ${r.name}\n`);
}
