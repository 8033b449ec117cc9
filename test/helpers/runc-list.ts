/**
 * `runc list` of a state root, as tests read it. runc fails when a container is deleted while it
 * lists (its state directory goes from under it), which a sandbox's teardown, begun shortly after
 * the answer, makes likely right after a call: it is tried again then.
 */
import { execFileSync } from 'node:child_process';

export interface RuncEntry {
  id: string;
  status: string;
}

export function runcList(root: string): RuncEntry[] {
  for (let i = 0; ; i++) {
    try {
      const out = execFileSync('runc', ['--root', root, 'list', '--format', 'json'], {
        encoding: 'utf8',
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      return (JSON.parse(out || 'null') as RuncEntry[] | null) ?? [];
    } catch (e) {
      if (i >= 20) throw e;
    }
  }
}

/** the ids `runc list -q` prints, one per entry */
export function runcIds(root: string): string[] {
  return runcList(root).map((c) => c.id);
}
