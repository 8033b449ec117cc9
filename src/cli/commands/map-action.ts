/**
 * What `agni map` does, imported only when it runs (lazy-action.ts); its arguments, options and help
 * are in map.ts.
 */
import { mkdir, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { AgniError } from '../../core/errors.js';
import { formatMs } from '../../core/units.js';
import { parseOutputSpec, parseRefSpec } from '../../core/volumes.js';
import { MAX_JOB_CONCURRENCY } from '../../triggers/jobs-inputs.js';
import { formatRate } from '../../triggers/jobs-progress.js';
import type { Job, JobItem } from '../../triggers/jobs-types.js';
import { ApiClient } from '../client.js';
import { onStdoutClosed } from '../errors.js';
import { download, followJob, toFile, toStdout } from '../map-follow.js';
import { checkDistinctNames, expandInputs, type Inputs } from '../map-inputs.js';
import { MapProgress } from '../map-progress.js';
import { hasContent, lineBatches, uploadFiles, uploadLines } from '../map-upload.js';
import { printJson } from '../output.js';

interface MapOptions {
  concurrency?: string;
  out?: string;
  outTo?: string;
  reduce?: string;
  detach?: boolean;
  json?: boolean;
  retryFailed?: string;
  ref?: string[];
}

/** failures listed one per line; past this many, a pointer to the rest */
const LIST_MAX = 50;

function bad(message: string, hint?: string): AgniError {
  return new AgniError('bad_request', message, { hint });
}

function parseConcurrency(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > MAX_JOB_CONCURRENCY)
    throw bad(`--concurrency ${v}: expected a whole number from 1 to ${MAX_JOB_CONCURRENCY}`);
  return n;
}

/** checked before anything is sent; created only once there is a job to write from */
async function checkOut(dir: string): Promise<string> {
  const abs = resolve(dir);
  const st = await stat(abs).catch(() => undefined);
  if (st && !st.isDirectory()) throw bad(`--out ${dir}: exists and is not a directory`);
  return abs;
}

async function createOut(dir: string, abs: string): Promise<void> {
  await mkdir(abs, { recursive: true }).catch((e: NodeJS.ErrnoException) => {
    throw bad(`--out ${dir}: cannot create it (${e.code ?? e.message})`);
  });
}

/** Creates the job, sends every input, starts it. Nothing reaches the server before inputs check out. */
async function submitNew(
  client: ApiClient,
  fn: string,
  inputs: Inputs,
  o: MapOptions,
  progress: MapProgress,
): Promise<Job> {
  const concurrency = parseConcurrency(o.concurrency) ?? 4;
  // Stdin is read up to its first line before a job exists, so an empty stdin creates nothing.
  let lines: AsyncIterable<Buffer> | undefined;
  if (inputs.kind === 'stdin' && !o.ref?.length) {
    const it = lineBatches(process.stdin);
    let first = await it.next();
    while (!first.done && !hasContent(first.value)) first = await it.next();
    if (first.done)
      throw bad('stdin: no non-blank line to map over', 'agni map FUNCTION FILES..., or pipe lines in');
    const head = first.value;
    lines = (async function* () {
      yield head;
      yield* it;
    })();
  }
  const job = await client.json<Job>('POST', '/v1/jobs', {
    function: fn,
    concurrency,
    ...(o.reduce ? { reduce: o.reduce } : {}),
    ...(o.outTo ? { output_to: o.outTo } : {}),
  });
  const path = `/v1/jobs/${encodeURIComponent(job.id)}`;
  // Started after its first input, with more to come: the first inputs run while the rest upload.
  let started = false;
  const start = async () => {
    await client.json<Job>('POST', `${path}/start`, { more_inputs: true });
    started = true;
  };
  // A job whose inputs did not all arrive is removed rather than left behind; once started, after
  // the inputs that did arrive have run (a running job cannot be removed).
  const discard = async () => {
    try {
      if (started) await settleAbandoned(client, path);
      await client.json('DELETE', path);
    } catch {
      // best effort: the error that brought us here is the one to report
    }
  };
  const onInterrupt = () => {
    progress.stop();
    void discard().finally(() => process.exit(130));
  };
  process.once('SIGINT', onInterrupt);
  try {
    if (o.ref?.length) {
      // By reference: the server expands each glob on its volume; no byte of input is sent.
      for (const ref of o.ref)
        await client.json('POST', `/v1/jobs/${encodeURIComponent(job.id)}/refs`, { ref });
      return client.json<Job>('POST', `${path}/start`);
    }
    if (inputs.kind === 'files') await uploadFiles(client, job.id, inputs.files, progress, start);
    else await uploadLines(client, job.id, lines!, start);
  } catch (e) {
    progress.stop();
    await discard();
    throw e;
  } finally {
    process.off('SIGINT', onInterrupt);
  }
  return client.json<Job>('POST', `${path}/close`);
}

/** closes a job whose upload failed midway and waits for what it started to finish */
async function settleAbandoned(client: ApiClient, path: string): Promise<void> {
  let job = await client.json<Job>('POST', `${path}/close`);
  const until = Date.now() + 60_000;
  while ((job.status === 'running' || job.status === 'reducing') && Date.now() < until) {
    await new Promise((r) => setTimeout(r, 100));
    job = await client.json<Job>('GET', path);
  }
}

function failureLine(it: JobItem): string {
  const what =
    it.outcome === 'failed' && it.exitCode !== null
      ? `failed (exit ${it.exitCode})`
      : (it.outcome ?? 'failed');
  return `  ${it.name}  ${what}  ${it.invocationId ?? '-'}  ${it.error ?? ''}`.trimEnd();
}

export async function map(fn: string | undefined, args: string[], o: MapOptions): Promise<void> {
  const client = new ApiClient();
  const progress = new MapProgress(Boolean(process.stderr.isTTY) && !o.json);
  // `agni map ... | head`: a closed stdout ends the CLI quietly, as it would `cat`; the job goes on.
  onStdoutClosed(() => progress.stop());
  let out: string | undefined;
  let job: Job;
  if (o.retryFailed) {
    if (fn || args.length || o.reduce || o.outTo)
      throw bad(
        '--retry-failed JOB takes no FUNCTION, INPUTS, --reduce or --out-to: it reruns what the job had',
      );
    const c = parseConcurrency(o.concurrency);
    out = o.out ? await checkOut(o.out) : undefined;
    job = await client.json<Job>(
      'POST',
      `/v1/jobs/${encodeURIComponent(o.retryFailed)}/retry-failed`,
      c === undefined ? {} : { concurrency: c },
    );
  } else {
    if (!fn) throw bad('missing FUNCTION', 'agni map FUNCTION INPUTS...  (see agni map --help)');
    parseConcurrency(o.concurrency);
    if (o.ref?.length && args.length)
      throw bad('--ref takes no INPUTS: give either files to upload or references, not both');
    if (o.ref?.length) for (const r of o.ref) parseRefSpec(r, '--ref');
    if (o.outTo !== undefined) parseOutputSpec(o.outTo, '--out-to');
    const inputs = o.ref?.length
      ? ({ kind: 'stdin' } as Inputs)
      : expandInputs(args, process.cwd(), Boolean(process.stdin.isTTY));
    if (o.out && inputs.kind === 'files') checkDistinctNames(inputs.files);
    out = o.out ? await checkOut(o.out) : undefined;
    job = await submitNew(client, fn, inputs, o, progress);
  }
  const id = job.id;
  if (o.out && out) await createOut(o.out, out);
  if (o.detach) {
    if (o.json) printJson({ job: id, status: job.status, inputs: job.counts.total });
    else process.stdout.write(`${id}\n`);
    return;
  }
  if (!o.json) {
    process.stderr.write(
      `agni map: job ${id}: ${job.counts.pending + job.counts.running} of ${job.counts.total} inputs to run, concurrency ${job.concurrency}${job.reduce ? `, reduce ${job.reduce}` : ''}\n`,
    );
  }
  // Leaving is always safe: the job belongs to the server.
  process.once('SIGINT', () => {
    progress.stop();
    process.stderr.write(`\nagni map: job ${id} keeps running on the server; see \`agni jobs show ${id}\`\n`);
    process.exit(130);
  });
  const { job: end, failed } = await followJob(client, id, {
    out,
    // With --reduce only the reduce is printed, with --out-to none (they are on the volume);
    // --out still gets every output.
    itemOutputs: out !== undefined || (!job.reduce && !job.outputTo && !o.json),
    progress,
  });
  if (end.reduce && end.reduceStatus === 'succeeded' && !(o.json && !out)) {
    const body = await download(client, `/v1/jobs/${encodeURIComponent(id)}/reduce/output`);
    if (out) await toFile(body, join(out, 'reduce.out'));
    else await toStdout(body);
  }
  const elapsed = (end.finishedAt ?? Date.now()) - (end.startedAt ?? end.createdAt);
  if (o.json) {
    printJson({
      job: id,
      status: end.status,
      function: end.function,
      reduce: end.reduce,
      counts: end.counts,
      run: end.run,
      elapsedMs: elapsed,
      rate: end.rate,
      out: out ?? null,
      outTo: end.outputTo,
      reduceStatus: end.reduceStatus,
      reduceInvocation: end.reduceInvocation,
      reduceError: end.reduceError,
      failed: failed.map((f) => ({
        index: f.index,
        name: f.name,
        outcome: f.outcome,
        exitCode: f.exitCode,
        invocationId: f.invocationId,
        error: f.error,
      })),
    });
  } else {
    const c = end.counts;
    process.stderr.write(
      `agni map: job ${id} ${end.status}: ${c.succeeded} of ${c.total} inputs succeeded in ${formatMs(elapsed)} (${formatRate(end.rate)})${end.outputTo ? `; outputs in ${end.outputTo}` : ''}\n`,
    );
    if (failed.length) {
      process.stderr.write(`failed inputs (${failed.length}): input, status, invocation, error\n`);
      for (const f of failed.slice(0, LIST_MAX)) process.stderr.write(`${failureLine(f)}\n`);
      if (failed.length > LIST_MAX)
        process.stderr.write(`  ... and ${failed.length - LIST_MAX} more: agni jobs show ${id}\n`);
    }
    if (end.reduceStatus === 'failed')
      process.stderr.write(`reduce ${end.reduce} failed: ${end.reduceError}\n`);
  }
  if (end.status === 'failed') {
    throw new AgniError('function_failed', `job ${id}: ${end.error ?? 'failed'}`, {
      hint: `run the failed ones again with \`agni map --retry-failed ${id}\``,
      details: { exit_code: 1 },
    });
  }
}
