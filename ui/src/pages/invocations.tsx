/**
 * Invocations, newest first, with filters (function, status, time window) kept in the URL, and a
 * live tail: while on, the list is asked again every 2 s, so new calls appear without a reload.
 */
import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { ago, formatBytes, formatMs, formatTime } from '../format.js';
import { usePoll } from '../poll.js';
import { Link, navigate, useLocation } from '../router.js';
import type { Invocation } from '../types.js';
import { ErrorBox, Loading, Section, Status } from '../widgets.js';

const STATUSES = ['queued', 'running', 'succeeded', 'failed', 'timeout', 'oom', 'error'];
const WINDOWS: [string, number][] = [
  ['any time', 0],
  ['last 5 minutes', 5 * 60_000],
  ['last hour', 3_600_000],
  ['last day', 86_400_000],
  ['last week', 7 * 86_400_000],
];

export function durationOf(i: Invocation): number | undefined {
  const { received, finished } = i.phases;
  return received !== undefined && finished !== undefined ? finished - received : undefined;
}

export function InvocationsPage() {
  const { query } = useLocation();
  const fn = query.get('function') ?? '';
  const status = query.get('status') ?? '';
  const within = Number(query.get('within') ?? 0);
  const [live, setLive] = useState(true);

  const params = new URLSearchParams({ limit: '100' });
  if (fn) params.set('function', fn);
  if (status) params.set('status', status);
  const key = params.toString();
  const { data, error } = usePoll(
    () => {
      const q = new URLSearchParams(key);
      if (within > 0) q.set('since', String(Date.now() - within));
      return api<{ invocations: Invocation[] }>(`/v1/invocations?${q}`);
    },
    [key, within],
    live ? 2000 : 0,
  );
  const set = (k: string, v: string) => {
    const q = new URLSearchParams(location.search);
    if (v) q.set(k, v);
    else q.delete(k);
    const s = q.toString();
    navigate(`/invocations${s ? `?${s}` : ''}`);
  };

  return (
    <Section
      title="Invocations"
      actions={
        <label class="live">
          <input type="checkbox" name="live" checked={live} onChange={() => setLive(!live)} /> live tail
        </label>
      }
    >
      <form class="filters" onSubmit={(e) => e.preventDefault()}>
        <label>
          function
          <input
            name="function"
            value={fn}
            placeholder="any"
            onChange={(e) => set('function', (e.target as HTMLInputElement).value.trim())}
          />
        </label>
        <label>
          status
          <select
            name="status"
            value={status}
            onChange={(e) => set('status', (e.target as HTMLSelectElement).value)}
          >
            <option value="">any</option>
            {STATUSES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          time
          <select
            name="within"
            value={String(within)}
            onChange={(e) =>
              set(
                'within',
                (e.target as HTMLSelectElement).value === '0' ? '' : (e.target as HTMLSelectElement).value,
              )
            }
          >
            {WINDOWS.map(([label, ms]) => (
              <option key={ms} value={String(ms)}>
                {label}
              </option>
            ))}
          </select>
        </label>
      </form>
      <ErrorBox error={error} />
      {!data ? (
        <Loading what="invocations" />
      ) : data.invocations.length === 0 ? (
        <p class="muted">No invocations match.</p>
      ) : (
        <table data-table="invocations">
          <thead>
            <tr>
              <th>id</th>
              <th>function</th>
              <th>status</th>
              <th>duration</th>
              <th>output</th>
              <th>node</th>
              <th>when</th>
            </tr>
          </thead>
          <tbody>
            {data.invocations.map((i) => {
              const d = durationOf(i);
              return (
                <tr key={i.id} data-invocation={i.id}>
                  <td>
                    <Link to={`/invocations/${i.id}`}>{i.id}</Link>
                  </td>
                  <td>
                    {i.function} v{i.version}
                    {i.alias ? ` @${i.alias}` : ''}
                  </td>
                  <td>
                    <Status status={i.status} />
                  </td>
                  <td class="num">{d === undefined ? '' : formatMs(d)}</td>
                  <td class="num">{formatBytes(i.stdoutBytes)}</td>
                  <td>{i.node}</td>
                  <td title={formatTime(i.createdAt)}>{ago(i.createdAt)}</td>
                </tr>
              );
            })}
          </tbody>
        </table>
      )}
    </Section>
  );
}
