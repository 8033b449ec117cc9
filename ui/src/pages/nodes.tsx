/**
 * The nodes that run calls (GET /v1/nodes): a cluster server's agents, or `agni up`'s own node.
 * The columns are those of `agni nodes`, so the page and the CLI read the same.
 */
import { api } from '../api.js';
import { formatBytes, formatMs } from '../format.js';
import { usePoll } from '../poll.js';
import { ErrorBox, Loading, Section } from '../widgets.js';

interface NodeRow {
  name: string;
  state: 'ready' | 'draining' | 'lost';
  address?: string;
  platforms: string[];
  backends: string[];
  slots: number;
  running: number;
  queued: number;
  free?: number;
  memoryBytes?: number;
  labels?: Record<string, string>;
  warm?: string[];
  lastHeartbeatMs?: number | null;
}

export function NodesPage() {
  const { data, error } = usePoll(async () => (await api<{ nodes: NodeRow[] }>('/v1/nodes')).nodes, []);
  return (
    <Section title="Nodes">
      <ErrorBox error={error} />
      {!data ? (
        <Loading what="nodes" />
      ) : (
        <table data-table="nodes">
          <thead>
            <tr>
              <th>name</th>
              <th>state</th>
              <th>platforms</th>
              <th>backends</th>
              <th class="num">slots used/free</th>
              <th class="num">queued</th>
              <th class="num">memory</th>
              <th>labels</th>
              <th>warm</th>
              <th class="num">heartbeat</th>
            </tr>
          </thead>
          <tbody>
            {data.map((n) => (
              <tr key={n.name} data-node={n.name}>
                <td>{n.name}</td>
                <td data-state={n.state}>{n.state}</td>
                <td>{n.platforms.join(', ')}</td>
                <td>{n.backends.join(', ')}</td>
                <td class="num">
                  {n.running}/{n.free ?? Math.max(0, n.slots - n.running)}
                </td>
                <td class="num">{n.queued}</td>
                <td class="num">{n.memoryBytes === undefined ? '' : formatBytes(n.memoryBytes)}</td>
                <td>
                  {Object.entries(n.labels ?? {})
                    .map(([k, v]) => `${k}=${v}`)
                    .join(', ')}
                </td>
                <td>{(n.warm ?? []).join(', ')}</td>
                <td class="num">
                  {n.lastHeartbeatMs === undefined || n.lastHeartbeatMs === null
                    ? ''
                    : `${formatMs(n.lastHeartbeatMs)} ago`}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}
