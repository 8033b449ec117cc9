/** Functions with their live version, and one function's versions with their manifests. */
import { api } from '../api.js';
import { formatTime } from '../format.js';
import { usePoll } from '../poll.js';
import { Link } from '../router.js';
import type { FunctionRow, Version } from '../types.js';
import { ErrorBox, Loading, Section } from '../widgets.js';

export function FunctionsPage() {
  const { data, error } = usePoll(() => api<{ functions: FunctionRow[] }>('/v1/functions'), []);
  return (
    <Section title="Functions">
      <ErrorBox error={error} />
      {!data ? (
        <Loading what="functions" />
      ) : data.functions.length === 0 ? (
        <p class="muted">No functions yet: deploy one with `agni deploy DIR`.</p>
      ) : (
        <table data-table="functions">
          <thead>
            <tr>
              <th>name</th>
              <th>live</th>
              <th>versions</th>
              <th>runtime</th>
              <th>deployed</th>
            </tr>
          </thead>
          <tbody>
            {data.functions.map((f) => (
              <tr key={f.function} data-function={f.function}>
                <td>
                  <Link to={`/functions/${encodeURIComponent(f.function)}`}>{f.function}</Link>
                </td>
                <td>v{f.version}</td>
                <td>{f.versions}</td>
                <td>{String(f.manifest.runtime ?? '')}</td>
                <td>{formatTime(f.createdAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}

export function FunctionPage(p: { name: string }) {
  const path = `/v1/functions/${encodeURIComponent(p.name)}/versions`;
  const { data, error } = usePoll(() => api<{ versions: Version[]; live: number }>(path), [path]);
  return (
    <Section
      title={`Function ${p.name}`}
      actions={<Link to={`/invocations?function=${encodeURIComponent(p.name)}`}>its invocations</Link>}
    >
      <ErrorBox error={error} />
      {!data ? (
        <Loading what="versions" />
      ) : (
        [...data.versions]
          .sort((a, b) => b.version - a.version)
          .map((v) => (
            <details key={v.version} open={v.version === data.live} data-version={v.version}>
              <summary>
                v{v.version}
                {v.version === data.live && <span class="badge">live</span>} · {formatTime(v.createdAt)} ·
                image {v.imageId}
              </summary>
              <pre class="manifest">{JSON.stringify(v.manifest, null, 2)}</pre>
            </details>
          ))
      )}
    </Section>
  );
}
