/** One NATS connection for a cluster role, failing with an error that names the flag. */
import { connect, type NatsConnection } from 'nats';
import { AgniError } from '../core/errors.js';
import { redactUrl } from '../triggers/trigger-view.js';

export async function connectCluster(url: string, name: string): Promise<NatsConnection> {
  try {
    // Reconnect for ever: a NATS restart must not end a role; calls in flight end as node_lost.
    return await connect({ servers: url, name, maxReconnectAttempts: -1, timeout: 5_000 });
  } catch (e) {
    throw new AgniError(
      'backend_unavailable',
      `--nats: cannot connect to ${redactUrl(url)}: ${(e as Error).message}`,
      {
        hint: 'start nats-server (with -js) or give its URL with --nats nats://HOST:4222',
      },
    );
  }
}
