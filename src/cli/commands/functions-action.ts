/**
 * What `agni ls`, `agni rm` and `agni versions` do, imported only when one of them runs
 * (lazy-action.ts); their arguments, options and help are in functions.ts. `agni deploy` is in
 * deploy-action.ts: its build and upload code took a listing 250 ms to load.
 */
import { AgniError } from '../../core/errors.js';
import { parseTarget } from '../../core/qualifier.js';
import { formatBytes, formatMs } from '../../core/units.js';
import type { FunctionRecord, VersionRecord } from '../../store/store.js';
import { ApiClient } from '../client.js';
import { ago, printJson, printTable } from '../output.js';

export async function list(o: { json?: boolean }): Promise<void> {
  const { functions } = await new ApiClient().json<{ functions: FunctionRecord[] }>('GET', '/v1/functions');
  if (o.json) return printJson(functions);
  printTable(
    ['NAME', 'VERSION', 'RUNTIME', 'MEMORY', 'TIMEOUT', 'CONCURRENCY', 'UPDATED'],
    functions.map((f) => [
      f.function,
      // After a rollback the live version is not the newest one: say both.
      f.newest > f.version ? `${f.version} (newest ${f.newest})` : f.version,
      f.manifest.runtime,
      formatBytes(f.manifest.limits.memoryBytes),
      formatMs(f.manifest.limits.timeoutMs),
      f.manifest.concurrency,
      ago(f.createdAt),
    ]),
  );
}

export async function remove(name: string): Promise<void> {
  const t = parseTarget(name, 'NAME');
  if (t.qualifier.kind === 'version') {
    await new ApiClient().json(
      'DELETE',
      `/v1/functions/${encodeURIComponent(t.name)}/versions/${t.qualifier.version}`,
    );
    process.stdout.write(`removed version ${t.qualifier.version} of ${t.name}\n`);
    return;
  }
  if (t.qualifier.kind === 'alias')
    throw new AgniError('bad_request', `NAME: ${name}: rm takes NAME or NAME@VERSION`, {
      hint: `remove an alias with \`agni alias rm ${t.name} ${t.qualifier.alias}\``,
    });
  const r = await new ApiClient().json<{ versions: number }>(
    'DELETE',
    `/v1/functions/${encodeURIComponent(name)}`,
  );
  process.stdout.write(`removed ${name} (${r.versions} version${r.versions === 1 ? '' : 's'})\n`);
}

export async function versions(name: string, o: { json?: boolean }): Promise<void> {
  const { versions, live } = await new ApiClient().json<{ versions: VersionRecord[]; live?: number }>(
    'GET',
    `/v1/functions/${encodeURIComponent(name)}/versions`,
  );
  if (o.json) return printJson(versions);
  printTable(
    ['VERSION', 'RUNTIME', 'COMMAND', 'CREATED'],
    versions.map((v) => [
      v.version === live ? `${v.version} (live)` : v.version,
      v.manifest.runtime,
      v.manifest.command.join(' ').slice(0, 60),
      ago(v.createdAt),
    ]),
  );
}
