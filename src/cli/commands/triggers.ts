import type { Command } from 'commander';
import { inHowLong, type TriggersResponse } from '../../triggers/trigger-view.js';
import { ApiClient } from '../client.js';
import { ago, printJson, printTable } from '../output.js';

export function registerTriggers(program: Command): void {
  program
    .command('triggers')
    .argument('[name]', 'only this function')
    .description('list cron, subject and webhook triggers with their next fire time and last result')
    .option('--json', 'print as JSON (triggers and the NATS connection state)')
    .addHelpText(
      'after',
      `
Triggers are declared in agni.yaml (see README.md) and follow deploys and removals:
  triggers:
    - cron: "*/5 * * * *"
      timezone: Europe/Paris
    - subject: orders.created
      reply: orders.scored
    - webhook: /github/push
      secret: a-long-shared-secret

Examples:
  agni triggers
  agni triggers nightly-report
  agni triggers --json`,
    )
    .action(async (name: string | undefined, o: { json?: boolean }) => {
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
    });
}
