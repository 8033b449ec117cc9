/**
 * The shapes of fan-out jobs as the API returns them and the CLI reads them. A job maps one function
 * over many inputs (items), each item one durable async invocation, and may end with a reduce.
 */

/** open: taking inputs; running: items in flight; reducing: the reduce runs; then succeeded or failed */
export type JobStatus = 'open' | 'running' | 'reducing' | 'succeeded' | 'failed';

export type ItemStatus = 'pending' | 'running' | 'succeeded' | 'failed';

export type ReduceStatus = 'pending' | 'running' | 'succeeded' | 'failed' | 'skipped';

export const JOB_DONE: readonly JobStatus[] = ['succeeded', 'failed'];
export const ITEM_SETTLED: readonly ItemStatus[] = ['succeeded', 'failed'];

export interface JobCounts {
  total: number;
  pending: number;
  running: number;
  succeeded: number;
  failed: number;
}

export interface Job {
  id: string;
  /** as it was named: NAME, NAME@VERSION, or NAME@ALIAS (each item runs what the alias points to as it starts) */
  function: string;
  reduce: string | null;
  /**
   * for a bare NAME: the version every item runs, pinned when the job was created (and again by
   * retry-failed), so a deploy while the job runs does not change its later items; else null
   */
  version: number | null;
  reduceVersion: number | null;
  concurrency: number;
  status: JobStatus;
  /**
   * started with `more_inputs`: items run while inputs are still appended (a streaming upload);
   * the job finishes only after POST /v1/jobs/ID/close
   */
  inputsOpen: boolean;
  /** `VOLUME:/dir` where each succeeded output (and the reduce's) is written too, or null */
  outputTo: string | null;
  /** 1 for the first run; each retry-failed starts the next */
  run: number;
  counts: JobCounts;
  inputBytes: number;
  createdAt: number;
  /** when the current run started */
  startedAt: number | null;
  finishedAt: number | null;
  /** items settled per second in the current run */
  rate: number | null;
  /** estimated time to the last item of the current run */
  etaMs: number | null;
  reduceStatus: ReduceStatus | null;
  reduceInvocation: string | null;
  reduceError: string | null;
  /** why the job failed, e.g. "2 of 10 inputs failed" */
  error: string | null;
}

export interface JobItem {
  index: number;
  /** the input's name (a file path as the CLI gave it, or the line number) */
  name: string;
  status: ItemStatus;
  invocationId: string | null;
  /** the invocation's final status (succeeded, failed, timeout, oom, error) */
  outcome: string | null;
  exitCode: number | null;
  error: string | null;
  inputBytes: number;
  outputBytes: number | null;
  /** how many times it was submitted, across runs */
  attempts: number;
  startedAt: number | null;
  finishedAt: number | null;
  /** increases each time an item of this job settles; lets a follower ask for what changed */
  seq: number | null;
}

/** the `source` of a job's invocations (its items and its reduce) */
export function jobSource(jobId: string): string {
  return `job:${jobId}`;
}

/** whether an invocation's `source` says a job submitted it */
export function isJobSource(source: string | undefined): boolean {
  return source?.startsWith('job:') === true;
}
