/**
 * What `agni image alias set/ls/rm` do, imported only when one of them runs (lazy-action.ts); their
 * arguments, options and help are in image-alias.ts.
 */
import type { ImageAlias } from '../../store/image-alias-repo.js';
import { ApiClient } from '../client.js';
import { ago, printJson, printTable } from '../output.js';

export async function set(
  canonical: string,
  img: string,
  o: { arch: string; json?: boolean },
): Promise<void> {
  const r = await new ApiClient().json<{ alias: ImageAlias }>('PUT', '/v1/image-aliases', {
    canonical,
    arch: o.arch,
    image: img,
  });
  if (o.json) printJson(r.alias);
  else process.stdout.write(`${r.alias.canonical} on ${r.alias.arch} -> ${r.alias.image}\n`);
}

export async function list(o: { json?: boolean }): Promise<void> {
  const { aliases } = await new ApiClient().json<{ aliases: ImageAlias[] }>('GET', '/v1/image-aliases');
  if (o.json) return printJson(aliases);
  printTable(
    ['CANONICAL', 'ARCH', 'IMAGE', 'SET'],
    aliases.map((a) => [a.canonical, a.arch, a.image, ago(a.createdAt)]),
  );
}

export async function remove(canonical: string, o: { arch?: string; json?: boolean }): Promise<void> {
  const q = new URLSearchParams({ canonical, ...(o.arch ? { arch: o.arch } : {}) });
  const r = await new ApiClient().json<{ canonical: string; removed: number }>(
    'DELETE',
    `/v1/image-aliases?${q}`,
  );
  if (o.json) printJson(r);
  else process.stdout.write(`removed ${r.removed} alias(es) of ${r.canonical}\n`);
}
