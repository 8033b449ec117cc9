/**
 * What `agni triggers` does, imported only when it runs (lazy-action.ts); its arguments, options and
 * help are in triggers.ts.
 */
import { inHowLong, type TriggersResponse } from '../../triggers/trigger-view.js';
import { ApiClient } from '../client.js';
import { ago, printJson, printTable } from '../output.js';

export async function list(name: string | undefined, o: { json?: boolean }): Promise<void> {
  const q = name ? `?function=${encodeURIComponent(name)}` : '';
  const r = await new ApiClient().json<TriggersResponse>('GET', `/v1/triggers${q}`);
  if (o.json) return printJson(r);
  if (r.nats.needed || r.nats.state !== 'idle') {
    process.stdout.write(
      `nats: ${r.nats.state} (${r.nats.url})${r.nats.error ? `: ${r.nats.error}` : ''}\n\n`,
    );
  }
  const now = Date.now();
  printTable(
    ['FUNCTION', '#', 'KIND', 'SPEC', 'STATE', 'NEXT FIRE', 'LAST FIRED', 'LAST RESULT', 'INVOCATION'],
    r.triggers.map((t) => [
      t.function,
      t.index,
      t.kind,
      t.spec,
      t.state,
      t.nextFireAt && t.nextFireLocal
        ? `${t.nextFireLocal} (${inHowLong(Date.parse(t.nextFireAt) - now)})`
        : '-',
      t.lastFiredAt ? ago(Date.parse(t.lastFiredAt)) : 'never',
      t.lastStatus ? `${t.lastStatus}${t.lastError ? `: ${t.lastError}` : ''}` : '-',
      t.lastInvocationId ?? '-',
    ]),
  );
}
