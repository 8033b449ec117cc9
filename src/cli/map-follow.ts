/**
 * Follows a running job from the CLI: polls what settled since the last look, writes outputs (to
 * DIR/<name>.out as they come, or to stdout in input order), keeps the progress bar current, and
 * returns once the job is done. The job itself runs on the server whether or not anyone follows.
 */
import { createWriteStream } from 'node:fs';
import { mkdir, rename } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { dirname, join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { AgniError } from '../core/errors.js';
import { inputNameProblem } from '../triggers/jobs-inputs.js';
import { JOB_DONE, type Job, type JobItem } from '../triggers/jobs-types.js';
import { type ApiClient, errorFromBody, readAll } from './client.js';
import type { MapProgress } from './map-progress.js';
import { InOrder } from './ordered-outputs.js';

export interface FollowOptions {
  /** per-item outputs go to DIR/<name>.out; without it they go to stdout in input order */
  out?: string;
  /** false: write no per-item output anywhere (a reduce job, or --json without --out) */
  itemOutputs: boolean;
  progress: MapProgress;
}

export interface FollowResult {
  job: Job;
  /** the failed items, by index */
  failed: JobItem[];
}

const PAGE = 1000;
/** how long the server may hold a look for new settles (seconds); also the progress bar's slowest tick */
const WAIT_S = 2;

export async function download(client: ApiClient, path: string): Promise<IncomingMessage> {
  const res = await client.request('GET', path, Buffer.alloc(0), 'application/octet-stream');
  if (res.status !== 200) throw errorFromBody(res.status, await readAll(res.body));
  return res.body;
}

export async function toFile(body: IncomingMessage, file: string): Promise<void> {
  await mkdir(dirname(file), { recursive: true });
  // A reader of DIR never sees half an output: it appears whole, by rename.
  const tmp = `${file}.part`;
  await pipeline(body, createWriteStream(tmp));
  await rename(tmp, file);
}

export async function toStdout(body: IncomingMessage): Promise<void> {
  for await (const chunk of body) {
    if (!process.stdout.write(chunk as Buffer)) await new Promise((r) => process.stdout.once('drain', r));
  }
}

export function outFile(dir: string, name: string): string {
  const problem = inputNameProblem(name);
  if (problem)
    throw new AgniError('bad_request', `the server named an input ${JSON.stringify(name)}, which ${problem}`);
  return join(dir, `${name}.out`);
}

export async function followJob(client: ApiClient, id: string, o: FollowOptions): Promise<FollowResult> {
  const base = `/v1/jobs/${encodeURIComponent(id)}`;
  const getJob = () => client.json<Job>('GET', base);
  let job = await getJob();
  const order = new InOrder(job.counts.total);
  const latest = new Map<number, JobItem>();
  let since = 0;
  o.progress.start('running', job.counts.total);

  const output = (i: number) => download(client, `${base}/items/${i}/output`);
  for (;;) {
    // The job is read before the items: once it says done, every settle is in what follows.
    job = await getJob();
    let wait = JOB_DONE.includes(job.status) ? 0 : WAIT_S;
    for (;;) {
      const { items } = await client.json<{ items: JobItem[] }>(
        'GET',
        `${base}/items?since=${since}&limit=${PAGE}&wait=${wait}`,
      );
      wait = 0;
      for (const it of items) {
        since = Math.max(since, it.seq ?? 0);
        latest.set(it.index, it);
        order.settle(it.index);
        if (o.itemOutputs && o.out && it.status === 'succeeded')
          await toFile(await output(it.index), outFile(o.out, it.name));
      }
      if (items.length < PAGE) break;
    }
    const ready = order
      .take()
      .filter((i) => o.itemOutputs && !o.out && latest.get(i)?.status === 'succeeded');
    if (ready.length) o.progress.suspend();
    for (const i of ready) await toStdout(await output(i));
    o.progress.resume();
    const { succeeded, failed } = job.counts;
    o.progress.update({ done: succeeded + failed, failed, rate: job.rate, etaMs: job.etaMs });
    if (JOB_DONE.includes(job.status)) break;
  }
  o.progress.stop();
  const failed = [...latest.values()]
    .filter((it) => it.status === 'failed')
    .sort((a, b) => a.index - b.index);
  return { job, failed };
}
