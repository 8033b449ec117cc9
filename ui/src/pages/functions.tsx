/** Functions with their live version, and one function's versions with their manifests. */
import { api } from '../api.js';
import { formatBytes, formatMs, formatTime } from '../format.js';
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

/** One manifest value on one line: sizes and durations in units, objects as `key: value` pairs. */
function show(key: string, v: unknown): string {
  if (v === null || v === undefined) return '';
  if (typeof v === 'number' && /Bytes$/.test(key)) return formatBytes(v);
  if (typeof v === 'number' && /Ms$/.test(key)) return formatMs(v);
  if (Array.isArray(v)) {
    if (v.some((x) => typeof x === 'object' && x !== null)) return v.map((x) => show(key, x)).join('; ');
    // argv with spaces in an argument reads right only quoted
    return v.some((x) => /\s/.test(String(x))) ? JSON.stringify(v) : v.join(' ');
  }
  if (typeof v === 'object')
    return Object.entries(v as Record<string, unknown>)
      .map(([k, x]) => `${k}: ${show(k, x)}`)
      .join(', ');
  return String(v);
}

function Manifest(p: { m: Record<string, unknown> }) {
  const rows = Object.entries(p.m).filter(
    ([, v]) =>
      !(Array.isArray(v) && v.length === 0) &&
      !(typeof v === 'object' && v !== null && Object.keys(v).length === 0),
  );
  return (
    <>
      <table class="manifest" data-manifest>
        <tbody>
          {rows.map(([k, v]) => (
            <tr key={k}>
              <th>{k}</th>
              <td>
                <code>{show(k, v)}</code>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <details class="raw">
        <summary>as JSON</summary>
        <pre>{JSON.stringify(p.m, null, 2)}</pre>
      </details>
    </>
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
              <Manifest m={v.manifest} />
            </details>
          ))
      )}
    </Section>
  );
}
