import type { Command } from 'commander';
import { lazyAction } from '../lazy-action.js';

const actions = () => import('./triggers-action.js');

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
    .action(lazyAction(async () => (await actions()).list));
}
