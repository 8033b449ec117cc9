import { existsSync, readdirSync, readFileSync, rmdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

const CGROUP_ROOT = '/sys/fs/cgroup';

const v2 = new Map<string, boolean>();

/** Pure v2 ("unified") hierarchy mounted at the root; otherwise v1 or hybrid. Fixed while we run. */
export function isCgroupV2(root = CGROUP_ROOT): boolean {
  let known = v2.get(root);
  if (known === undefined) {
    known = existsSync(join(root, 'cgroup.controllers'));
    v2.set(root, known);
  }
  return known;
}

function readCounter(file: string, key: string): number {
  try {
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const [k, v] = line.trim().split(/\s+/);
      if (k === key && v !== undefined) return Number(v) || 0;
    }
  } catch {
    // leaf already gone (never created, or deleted): nothing was counted
  }
  return 0;
}

/**
 * OOM kills recorded in the container's leaf cgroup. Must be read before `runc delete`: in v1 the
 * counter lives only in the leaf and does not propagate to the parent.
 */
export function readOomKills(id: string, prefix = 'agni', root = CGROUP_ROOT): number {
  if (isCgroupV2(root)) return readCounter(join(root, prefix, id, 'memory.events'), 'oom_kill');
  return readCounter(join(root, 'memory', prefix, id, 'memory.oom_control'), 'oom_kill');
}

/** Directories that may hold `<prefix>/`: the v2 root itself, or every v1 controller (and v2 "unified"). */
function prefixDirs(prefix: string, root: string): string[] {
  if (isCgroupV2(root)) return [join(root, prefix)];
  let ctrls: string[] = [];
  try {
    ctrls = readdirSync(root);
  } catch {
    return [];
  }
  return ctrls.map((c) => join(root, c, prefix));
}

function tryRmdir(dir: string): boolean {
  try {
    rmdirSync(dir); // cgroup dirs are removable only when no tasks/children remain: EBUSY otherwise
    return true;
  } catch {
    return false;
  }
}

/**
 * Crash recovery: removes the empty leaf cgroups under every `<ctrl>/<prefix>/` that are `ours`
 * (the sandboxes this instance's runc state and bundle dir still name), and any other empty leaf
 * older than `staleMs`. The shared prefix holds every Agni instance's sandboxes: a leaf runc has
 * just made for another instance is empty for a moment, and removing it fails that sandbox's start.
 * The prefix itself stays (removeEmptyPrefix is for shutdown). Returns leaves removed.
 */
export function removeLeftoverCgroups(
  ours: ReadonlySet<string>,
  o: { prefix?: string; root?: string; staleMs?: number; now?: number } = {},
): number {
  const { prefix = 'agni', root = CGROUP_ROOT, staleMs = 10 * 60_000, now = Date.now() } = o;
  let removed = 0;
  for (const dir of prefixDirs(prefix, root)) {
    let children: string[];
    try {
      children = readdirSync(dir, { withFileTypes: true })
        .filter((d) => d.isDirectory())
        .map((d) => d.name);
    } catch {
      continue;
    }
    for (const child of children) {
      const leaf = join(dir, child);
      if (!ours.has(child) && !olderThan(leaf, now - staleMs)) continue;
      if (tryRmdir(leaf)) removed++;
    }
  }
  return removed;
}

function olderThan(path: string, cutoff: number): boolean {
  try {
    return statSync(path).mtimeMs < cutoff;
  } catch {
    return false;
  }
}

/** Lists leaf cgroup paths for `id` that still exist (used by tests and diagnostics). */
export function existingCgroupLeaves(id: string, prefix = 'agni', root = CGROUP_ROOT): string[] {
  return prefixDirs(prefix, root)
    .map((d) => join(d, id))
    .filter((p) => existsSync(p));
}

/** At shutdown: removes only the shared `<prefix>` parent where it is empty; never another instance's leaf. */
export function removeEmptyPrefix(prefix = 'agni', root = CGROUP_ROOT): void {
  for (const dir of prefixDirs(prefix, root)) tryRmdir(dir);
}

/**
 * Removes the leaf cgroups of `id` that `runc delete` left (it can give up while the killed
 * processes are still exiting). Only empty leaves go. Returns how many remain.
 */
export function removeCgroupLeaves(id: string, prefix = 'agni', root = CGROUP_ROOT): number {
  let left = 0;
  for (const leaf of existingCgroupLeaves(id, prefix, root)) if (!tryRmdir(leaf)) left++;
  return left;
}

/**
 * The container's leaf cgroup.procs: the pids (host namespace) of every process of the sandbox, since
 * a process without privileges cannot leave its cgroup. v1 reads the pids controller's leaf.
 */
export function cgroupProcsFile(id: string, prefix = 'agni', root = CGROUP_ROOT): string {
  return isCgroupV2(root)
    ? join(root, prefix, id, 'cgroup.procs')
    : join(root, 'pids', prefix, id, 'cgroup.procs');
}
