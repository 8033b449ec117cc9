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

export function registerJobs(program: Command): void {
  const jobs = program
    .command('jobs')
    .description('list fan-out jobs (from `agni map`), newest first')
    .option('-n, --limit <n>', 'how many', '20')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  agni jobs\n  agni jobs -n 100 --json\n  agni jobs show job-m1abc2def0123456789ab',
    )
    .action(async (o: { limit: string; json?: boolean }) => {
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
    });

  jobs
    .command('rm')
    .argument('<id>', 'job id')
    .description('forget a finished (or never started) job: its items and stored inputs')
    .addHelpText('after', '\nExample:\n  agni jobs rm job-m1abc2def0123456789ab')
    .action(async (id: string) => {
      const j = await new ApiClient().json<Job>('DELETE', `/v1/jobs/${encodeURIComponent(id)}`);
      process.stdout.write(`removed ${j.id} (${j.counts.total} inputs)\n`);
    });

  jobs
    .command('show')
    .argument('<id>', 'job id')
    .description('one job: counts, rate, timings, reduce, and its failed inputs')
    .option('--json', 'print as JSON')
    .addHelpText(
      'after',
      '\nExamples:\n  agni jobs show job-m1abc2def0123456789ab\n  agni jobs show job-m1abc2def0123456789ab --json',
    )
    .action(async (id: string, _o: unknown, cmd: Command) => {
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
      w.write(
        `status      ${j.status}${j.error ? `: ${j.error}` : ''}${j.run > 1 ? ` (run ${j.run})` : ''}\n`,
      );
      w.write(
        `inputs      ${c.total}: ${c.succeeded} succeeded, ${c.failed} failed, ${c.running} running, ${c.pending} pending\n`,
      );
      w.write(`concurrency ${j.concurrency}\n`);
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
    });
}
