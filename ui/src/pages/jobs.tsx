/** Fan-out jobs with live progress; one job's failed items and a Retry of them (POST /v1/jobs/ID/retry-failed). */
import { useState } from 'preact/hooks';
import { api } from '../api.js';
import { ago, formatMs } from '../format.js';
import { usePoll } from '../poll.js';
import { Link } from '../router.js';
import type { Job, JobItem } from '../types.js';
import { ErrorBox, Loading, Section, Status } from '../widgets.js';

function Progress(p: { job: Job }) {
  const { total, succeeded, failed, running } = p.job.counts;
  const pct = (n: number) => `${total ? (n / total) * 100 : 0}%`;
  return (
    <span class="progress" title={`${succeeded} succeeded, ${failed} failed, ${running} running of ${total}`}>
      <span class="ok" style={{ width: pct(succeeded) }} />
      <span class="bad" style={{ width: pct(failed) }} />
      <span class="run" style={{ width: pct(running) }} />
    </span>
  );
}

function counts(j: Job): string {
  const c = j.counts;
  return `${c.succeeded + c.failed}/${c.total} done, ${c.failed} failed`;
}

export function JobsPage() {
  const { data, error } = usePoll(() => api<{ jobs: Job[] }>('/v1/jobs?limit=50'), []);
  return (
    <Section title="Jobs">
      <ErrorBox error={error} />
      {!data ? (
        <Loading what="jobs" />
      ) : data.jobs.length === 0 ? (
        <p class="muted">No jobs yet: start one with `agni map FUNCTION INPUTS…`.</p>
      ) : (
        <table data-table="jobs">
          <thead>
            <tr>
              <th>id</th>
              <th>function</th>
              <th>status</th>
              <th>progress</th>
              <th>items</th>
              <th>run</th>
              <th>created</th>
            </tr>
          </thead>
          <tbody>
            {data.jobs.map((j) => (
              <tr key={j.id} data-job={j.id}>
                <td>
                  <Link to={`/jobs/${j.id}`}>{j.id}</Link>
                </td>
                <td>{j.function}</td>
                <td>
                  <Status status={j.status} />
                </td>
                <td>
                  <Progress job={j} />
                </td>
                <td data-counts>{counts(j)}</td>
                <td class="num">{j.run}</td>
                <td>{ago(j.createdAt)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}

export function JobPage(p: { id: string }) {
  const base = `/v1/jobs/${encodeURIComponent(p.id)}`;
  const job = usePoll(() => api<Job>(base), [base]);
  const failed = usePoll(() => api<{ items: JobItem[] }>(`${base}/items?status=failed&limit=200`), [base]);
  const [busy, setBusy] = useState(false);
  const [retryError, setRetryError] = useState<Error>();
  const j = job.data;
  const canRetry = j && j.counts.failed > 0 && (j.status === 'failed' || j.status === 'succeeded');
  return (
    <Section
      title={`Job ${p.id}`}
      actions={
        canRetry && (
          <button
            type="button"
            data-action="retry"
            disabled={busy}
            onClick={async () => {
              setBusy(true);
              setRetryError(undefined);
              try {
                await api(`${base}/retry-failed`, { method: 'POST', json: {} });
                job.reload();
                failed.reload();
              } catch (e) {
                setRetryError(e as Error);
              } finally {
                setBusy(false);
              }
            }}
          >
            Retry {j.counts.failed} failed
          </button>
        )
      }
    >
      <ErrorBox error={job.error ?? retryError} />
      {!j ? (
        <Loading what="the job" />
      ) : (
        <>
          <dl class="facts">
            <dt>function</dt>
            <dd>
              {j.function}
              {j.version !== null && ` v${j.version}`}
              {j.reduce && ` → reduce ${j.reduce}`}
            </dd>
            <dt>status</dt>
            <dd>
              <Status status={j.status} /> run <span data-run>{j.run}</span>
              {j.error && ` · ${j.error}`}
            </dd>
            <dt>progress</dt>
            <dd>
              <Progress job={j} /> {counts(j)}
              {j.rate !== null && ` · ${j.rate.toFixed(1)}/s`}
              {j.etaMs !== null && ` · ETA ${formatMs(j.etaMs)}`}
            </dd>
          </dl>
          <h3>Failures</h3>
          <ErrorBox error={failed.error} />
          {!failed.data ? (
            <Loading what="failures" />
          ) : failed.data.items.length === 0 ? (
            <p class="muted">None.</p>
          ) : (
            <table data-table="failures">
              <thead>
                <tr>
                  <th>#</th>
                  <th>input</th>
                  <th>outcome</th>
                  <th>error</th>
                  <th>attempts</th>
                  <th>invocation</th>
                </tr>
              </thead>
              <tbody>
                {failed.data.items.map((i) => (
                  <tr key={i.index} data-item={i.index}>
                    <td class="num">{i.index}</td>
                    <td>{i.name}</td>
                    <td>
                      <Status status={i.outcome ?? i.status} />
                      {i.exitCode !== null && ` exit ${i.exitCode}`}
                    </td>
                    <td>{i.error}</td>
                    <td class="num">{i.attempts}</td>
                    <td>
                      {i.invocationId && <Link to={`/invocations/${i.invocationId}`}>{i.invocationId}</Link>}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </>
      )}
    </Section>
  );
}
