/** One invocation: its outcome, the phase waterfall (the API's phases, as `agni inspect` draws them), and the output tails. */
import { phaseDurations } from '../../../src/core/phases.js';
import { api } from '../api.js';
import { formatBytes, formatMs, formatTime } from '../format.js';
import { usePoll } from '../poll.js';
import { Link } from '../router.js';
import type { Invocation, Phases } from '../types.js';
import { ErrorBox, Loading, Pre, Section, Status } from '../widgets.js';

export function Waterfall(p: { phases: Phases }) {
  const rows = phaseDurations(p.phases as Parameters<typeof phaseDurations>[0]);
  if (rows.length === 0) return <p class="muted">No phases recorded.</p>;
  const total = Math.max(rows.at(-1)!.atMs, 0.001);
  return (
    <div class="waterfall" data-waterfall>
      {rows.map((r) => (
        <div class="wf-row" key={r.phase} data-phase={r.phase} data-at-ms={r.atMs.toFixed(3)}>
          <span class="wf-name">{r.phase}</span>
          <span class="wf-track">
            <span
              class="wf-bar"
              style={{
                left: `${(r.atMs / total) * 100}%`,
                width: r.durationMs > 0 ? `max(2px, ${(r.durationMs / total) * 100}%)` : '2px',
              }}
            />
          </span>
          <span class="wf-at num">+{formatMs(r.atMs)}</span>
          <span class="wf-dur num">{r.durationMs > 0 ? formatMs(r.durationMs) : ''}</span>
        </div>
      ))}
      <div class="wf-total">total {formatMs(total)}</div>
    </div>
  );
}

export function InvocationPage(p: { id: string }) {
  const path = `/v1/invocations/${encodeURIComponent(p.id)}`;
  const { data: inv, error } = usePoll(() => api<Invocation>(path), [path]);
  const done = inv && inv.status !== 'queued' && inv.status !== 'running';
  return (
    <Section title={`Invocation ${p.id}`}>
      <ErrorBox error={error} />
      {!inv ? (
        <Loading what="the invocation" />
      ) : (
        <>
          <dl class="facts">
            <dt>function</dt>
            <dd>
              <Link to={`/functions/${encodeURIComponent(inv.function)}`}>{inv.function}</Link> v{inv.version}
              {inv.alias ? ` @${inv.alias}` : ''}
            </dd>
            <dt>status</dt>
            <dd>
              <Status status={inv.status} />
              {inv.exitCode !== null && ` exit ${inv.exitCode}`}
              {!done && ' (updating)'}
            </dd>
            {inv.error && (
              <>
                <dt>error</dt>
                <dd>{inv.error}</dd>
              </>
            )}
            <dt>when</dt>
            <dd>{formatTime(inv.createdAt)}</dd>
            <dt>where</dt>
            <dd>
              {inv.node} ({inv.backend})
            </dd>
            <dt>bytes</dt>
            <dd>
              payload {formatBytes(inv.payloadBytes)}, stdout {formatBytes(inv.stdoutBytes)}, stderr{' '}
              {formatBytes(inv.stderrBytes)}
            </dd>
          </dl>
          <h3>Phases</h3>
          <Waterfall phases={inv.phases} />
          <Pre label="stderr" text={inv.stderrTail} />
          <Pre label="stdout" text={inv.stdoutTail} />
        </>
      )}
    </Section>
  );
}
