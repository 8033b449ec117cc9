/**
 * What `agni jobs`, `agni jobs rm` and `agni jobs show` do, imported only when one of them runs
 * (lazy-action.ts); their arguments, options and help are in jobs.ts.
 */
import type { Command } from 'commander';
import { formatMs } from '../../core/units.js';
import { formatEta, formatRate } from '../../triggers/jobs-progress.js';
import type { Job, JobItem } from '../../triggers/jobs-types.js';
import { ApiClient } from '../client.js';
import { ago, printJson, printTable } from '../output.js';

const PAGE = 10_000;

async function failedItems(client: ApiClient, id: string): Promise<JobItem[]> {
  const out: JobItem[] = [];
  for (let from = 0; ; ) {
    const { items } = await client.json<{ items: JobItem[] }>(
      'GET',
      `/v1/jobs/${encodeURIComponent(id)}/items?status=failed&from=${from}&limit=${PAGE}`,
    );
    out.push(...items);
    if (items.length < PAGE) return out;
    from = items[items.length - 1]!.index + 1;
  }
}

/** a bare NAME with the version the job pinned: NAME@VERSION; NAME@ALIAS as named */
function runs(named: string, pinned: number | null): string {
  return pinned === null ? named : `${named}@${pinned}`;
}

function elapsed(j: Job): string {
  if (j.startedAt === null) return '-';
  return formatMs((j.finishedAt ?? Date.now()) - j.startedAt);
}

export async function list(o: { limit: string; json?: boolean }): Promise<void> {
  const { jobs: list } = await new ApiClient().json<{ jobs: Job[] }>(
    'GET',
    `/v1/jobs?limit=${encodeURIComponent(o.limit)}`,
  );
  if (o.json) return printJson(list);
  printTable(
    ['ID', 'FUNCTION', 'STATUS', 'DONE', 'FAILED', 'RATE', 'ELAPSED', 'REDUCE', 'CREATED'],
    list.map((j) => [
      j.id,
      runs(j.function, j.version),
      j.status,
      `${j.counts.succeeded + j.counts.failed}/${j.counts.total}`,
      j.counts.failed,
      formatRate(j.rate),
      elapsed(j),
      j.reduce ? `${j.reduce} (${j.reduceStatus ?? 'waiting'})` : '-',
      ago(j.createdAt),
    ]),
  );
}

export async function remove(id: string): Promise<void> {
  const j = await new ApiClient().json<Job>('DELETE', `/v1/jobs/${encodeURIComponent(id)}`);
  process.stdout.write(`removed ${j.id} (${j.counts.total} inputs)\n`);
}

export async function show(id: string, _o: unknown, cmd: Command): Promise<void> {
  // `jobs` has a --json of its own; optsWithGlobals sees the flag wherever it was written.
  const o = cmd.optsWithGlobals<{ json?: boolean }>();
  const client = new ApiClient();
  const j = await client.json<Job>('GET', `/v1/jobs/${encodeURIComponent(id)}`);
  const failed = j.counts.failed > 0 ? await failedItems(client, id) : [];
  if (o.json) return printJson({ ...j, failedItems: failed });
  const c = j.counts;
  const w = process.stdout;
  const reduce = j.reduce ? ` (reduce ${runs(j.reduce, j.reduceVersion)})` : '';
  w.write(`job         ${j.id}\nfunction    ${runs(j.function, j.version)}${reduce}\n`);
  w.write(`status      ${j.status}${j.error ? `: ${j.error}` : ''}${j.run > 1 ? ` (run ${j.run})` : ''}\n`);
  w.write(
    `inputs      ${c.total}: ${c.succeeded} succeeded, ${c.failed} failed, ${c.running} running, ${c.pending} pending\n`,
  );
  w.write(`concurrency ${j.concurrency}\n`);
  if (j.outputTo) w.write(`outputs to  ${j.outputTo}\n`);
  w.write(`elapsed     ${elapsed(j)}, ${formatRate(j.rate)}`);
  w.write(j.status === 'running' ? `, ETA ${formatEta(j.etaMs)}\n` : '\n');
  w.write(`created     ${ago(j.createdAt)}\n`);
  if (j.reduce) {
    w.write(
      `reduce      ${j.reduceStatus ?? 'waiting'}${j.reduceInvocation ? ` ${j.reduceInvocation}` : ''}`,
    );
    w.write(`${j.reduceError ? `: ${j.reduceError}` : ''}\n`);
  }
  if (failed.length) {
    w.write('\nfailed inputs:\n');
    printTable(
      ['INDEX', 'INPUT', 'STATUS', 'EXIT', 'INVOCATION', 'ERROR'],
      failed.map((f) => [
        f.index,
        f.name,
        f.outcome ?? 'failed',
        f.exitCode ?? '-',
        f.invocationId ?? '-',
        (f.error ?? '').slice(0, 80),
      ]),
    );
    w.write(`\nhint: agni map --retry-failed ${j.id}\n`);
  }
}
