/** Cron, subject and webhook triggers, with the next fire time of each cron. */
import { api } from '../api.js';
import { usePoll } from '../poll.js';
import { Link } from '../router.js';
import type { Trigger } from '../types.js';
import { ErrorBox, Loading, Section, Status } from '../widgets.js';

export function TriggersPage() {
  const { data, error } = usePoll(
    () => api<{ triggers: Trigger[]; nats: { connected?: boolean; needed: boolean } }>('/v1/triggers'),
    [],
    5000,
  );
  return (
    <Section title="Triggers">
      <ErrorBox error={error} />
      {!data ? (
        <Loading what="triggers" />
      ) : data.triggers.length === 0 ? (
        <p class="muted">No triggers: add `triggers:` to a function's agni.yaml.</p>
      ) : (
        <table data-table="triggers">
          <thead>
            <tr>
              <th>function</th>
              <th>kind</th>
              <th>spec</th>
              <th>state</th>
              <th>next fire</th>
              <th>fires</th>
              <th>last</th>
            </tr>
          </thead>
          <tbody>
            {data.triggers.map((t) => (
              <tr key={`${t.function}#${t.index}`} data-trigger={`${t.function}#${t.index}`}>
                <td>
                  {t.function} v{t.version}
                </td>
                <td>{t.kind}</td>
                <td>
                  <code>{t.spec}</code>
                </td>
                <td>{t.state}</td>
                <td title={t.nextFireAt ?? ''} data-next-fire>
                  {t.nextFireLocal ?? t.nextFireAt ?? ''}
                </td>
                <td class="num">{t.fires}</td>
                <td>
                  {t.lastInvocationId && (
                    <Link to={`/invocations/${t.lastInvocationId}`}>
                      <Status status={t.lastStatus} />
                    </Link>
                  )}
                  {t.lastError && <span class="muted"> {t.lastError}</span>}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Section>
  );
}
