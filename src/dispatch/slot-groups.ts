/**
 * Pure rules for placing a group of jobs that must all hold a slot at the same time (the stages of
 * a pipe). Taking every slot at once, or none, is what keeps two groups from deadlocking each other
 * while each holds part of what it needs.
 */
import { AgniError } from '../core/errors.js';
import type { DispatchJob } from './dispatch-request.js';

export interface SlotNeed {
  function: string;
  /** the function's `concurrency` (per node) */
  concurrency: number;
}

export const needOf = (j: DispatchJob): SlotNeed => ({
  function: j.request.version.function,
  concurrency: j.request.version.manifest.concurrency,
});

/** Jobs per function in the group, with the function's limit. */
export function countByFunction(needs: readonly SlotNeed[]): Map<string, { n: number; limit: number }> {
  const out = new Map<string, { n: number; limit: number }>();
  for (const { function: fn, concurrency } of needs) {
    const e = out.get(fn);
    if (e) {
      e.n++;
      e.limit = Math.min(e.limit, concurrency);
    } else out.set(fn, { n: 1, limit: concurrency });
  }
  return out;
}

/** Why the group can never run on a node with `slots` slots, or undefined when it can. */
export function groupRefusal(needs: readonly SlotNeed[], slots: number): AgniError | undefined {
  if (needs.length > slots) {
    return new AgniError(
      'bad_request',
      `a pipe of ${needs.length} stages needs ${needs.length} slots at once, and this node has ${slots}`,
      {
        hint: 'use fewer stages, or start the server with more slots (`agni up --slots N`)',
        details: { stages: needs.length, slots },
      },
    );
  }
  for (const [fn, { n, limit }] of countByFunction(needs)) {
    if (n > limit) {
      return new AgniError(
        'bad_request',
        `${fn} appears ${n} times in the pipe, but its concurrency is ${limit}, so its stages cannot all run at once`,
        {
          hint: `raise \`concurrency\` in ${fn}'s agni.yaml to at least ${n}, or use it fewer times`,
          details: { function: fn, stages: n, concurrency: limit },
        },
      );
    }
  }
  return undefined;
}

export type Placement = 'now' | 'wait_slots' | 'wait_function';

/**
 * Whether the whole group can start now. `wait_function` (some function is at its concurrency) lets
 * later jobs pass, as a single job does; `wait_slots` holds them back, so a group is not starved by
 * single jobs that keep taking the slots it waits for.
 */
export function placeGroup(
  needs: readonly SlotNeed[],
  freeSlots: number,
  runningByFn: ReadonlyMap<string, number>,
): Placement {
  for (const [fn, { n, limit }] of countByFunction(needs))
    if ((runningByFn.get(fn) ?? 0) + n > limit) return 'wait_function';
  return needs.length > freeSlots ? 'wait_slots' : 'now';
}
