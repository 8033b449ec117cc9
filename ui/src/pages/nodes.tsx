/**
 * Cluster nodes (GET /v1/nodes, present in cluster mode). The navigation shows this page only when
 * the server has the route; the fields are shown as they come, so a new field needs no change here.
 */
import { api } from '../api.js';
import { usePoll } from '../poll.js';
import { ErrorBox, Loading, Section } from '../widgets.js';

type Row = Record<string, unknown>;

function cell(v: unknown): string {
  if (v === null || v === undefined) return '';
  if (Array.isArray(v)) return v.map(cell).join(', ');
  if (typeof v === 'object') return JSON.stringify(v);
  return String(v);
}

export function NodesPage() {
  const { data, error } = usePoll(async () => {
    const r = await api<Row[] | { nodes: Row[] }>('/v1/nodes');
    return Array.isArray(r) ? r : r.nodes;
  }, []);
  const cols = data ? [...new Set(data.flatMap((n) => Object.keys(n)))] : [];
  return (
    <Section title="Nodes">
      <ErrorBox error={error} />
      {!data ? (
        <Loading what="nodes" />
      ) : (
        <table data-table="nodes">
          <thead>
            <tr>
              {cols.map((c) => (
                <th key={c}>{c}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {data.map((n, i) => (
              <tr key={i}>
                {cols.map((c) => (
                  <td key={c}>{cell(n[c])}</td>
                ))}
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}
