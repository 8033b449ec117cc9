/**
 * What `agni secret set/ls/rm` do, imported only when one of them runs (lazy-action.ts); their
 * arguments, options and help are in secret.ts.
 */
import { readFile } from 'node:fs/promises';
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

export async function set(name: string, o: { fromFile?: string; json?: boolean }): Promise<void> {
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
  process.stdout.write(`${res.status === 201 ? 'created' : 'replaced'} secret ${s.name} (${s.size} bytes)\n`);
}

export async function list(o: { json?: boolean }): Promise<void> {
  const { secrets } = await new ApiClient().json<{ secrets: SecretInfo[] }>('GET', '/v1/secrets');
  if (o.json) return printJson(secrets);
  printTable(
    ['NAME', 'SIZE', 'UPDATED', 'USED BY'],
    secrets.map((s) => [s.name, s.size, ago(s.updated_at), s.used_by.join(',') || '-']),
  );
}

export async function remove(name: string, o: { json?: boolean }): Promise<void> {
  const r = await new ApiClient().json<{ name: string }>('DELETE', `/v1/secrets/${encodeURIComponent(name)}`);
  if (o.json) printJson(r);
  else process.stdout.write(`removed secret ${r.name}\n`);
}
