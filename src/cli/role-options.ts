/** Flags the long-running verbs (`agni up`, `agni server`, `agni agent`) spell the same way. */
import type { Command } from 'commander';
import { DEFAULT_PORT } from '../app/config.js';
import { AgniError } from '../core/errors.js';

/** --host and --port of a verb that serves the API */
export function listenOptions(c: Command): Command {
  return c
    .option('--host <addr>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'port to listen on (0 picks a free one)', String(DEFAULT_PORT));
}

/** --backend, for `whose` sandboxes (e.g. "the --agent's ") */
export function backendOption(c: Command, whose = ''): Command {
  return c
    .option('--backend <name>', `${whose}sandbox backend: auto, runc or process`, 'auto')
    .option(
      '--egress-pool <cidr>',
      `addresses of ${whose}\`network: egress\` sandboxes, a /30 each (default 10.89.0.0/16; also $AGNI_EGRESS_POOL)`,
    );
}

export function checkBackend(b: string): 'auto' | 'runc' | 'process' {
  if (!['auto', 'runc', 'process'].includes(b))
    throw new AgniError('bad_request', `--backend: expected auto, runc or process, got ${JSON.stringify(b)}`);
  return b as 'auto' | 'runc' | 'process';
}
