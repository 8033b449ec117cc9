/**
 * Pure rules of `agni pipe A B C`: which stages a request names, and which stage a failed pipe is
 * blamed on. Running the stages is src/app/pipeline.ts.
 */
import { AgniError } from './errors.js';
import { parseTarget, type Target } from './qualifier.js';

/**
 * The stages of a pipe request (`?f=A&f=B@2&f=C@prod`, one value or many), checked before any
 * lookup: each names a function and optionally a version or an alias.
 */
export function pipeStages(raw: unknown): Target[] {
  const list = raw === undefined ? [] : Array.isArray(raw) ? raw : [raw];
  if (list.length === 0) {
    throw new AgniError('bad_request', 'query `f`: name at least one function, e.g. ?f=upper&f=wordcount', {
      hint: 'each `f` is one stage; stage 1 gets the request body, the last stage answers',
    });
  }
  return list.map((name, i) => {
    const field = `query \`f\` (stage ${i + 1})`;
    if (typeof name !== 'string')
      throw new AgniError('bad_request', `${field}: expected a function name, got ${JSON.stringify(name)}`);
    return parseTarget(name, field);
  });
}

export interface StageState {
  /** succeeded, failed, timeout, oom, error (see InvocationStatus) */
  status: string;
  /**
   * the stage was stopped because the stage after it (or the caller) stopped reading its output
   * first: its failure is a consequence, like SIGPIPE in a shell pipeline, not a cause
   */
  cut: boolean;
}

/**
 * Index of the stage a failed pipe is blamed on, or undefined when the pipe succeeded. A stage that
 * fails truncates the input of the stages after it (which may fail in turn) and cuts the stages
 * before it, so the cause is the leftmost stage that failed and was not cut.
 */
export function failingStage(stages: readonly StageState[]): number | undefined {
  const i = stages.findIndex((s) => s.status !== 'succeeded' && !s.cut);
  return i < 0 ? undefined : i;
}
