/**
 * Which processes a sandbox holds, as identities that survive pid reuse (`pid:starttime` from the
 * host's /proc), so a warm worker's processes after a call can be compared with those it had when
 * it reported ready (src/agent/warm-workers.ts). Read synchronously: procfs never waits for a disk,
 * and this runs between two calls of a warm worker, where a thread-pool round trip per file would
 * cost more than the call itself.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Stat {
  pid: number;
  pgrp: number;
  /** clock ticks since boot: with the pid, unique for the machine's uptime */
  starttime: string;
}

function readStat(pid: number, proc: string): Stat | undefined {
  let text: string;
  try {
    text = readFileSync(join(proc, String(pid), 'stat'), 'utf8');
  } catch {
    return undefined; // exited meanwhile
  }
  return parseStat(pid, text);
}

/** pid's stat from the text of /proc/PID/stat, undefined when it cannot be read */
export function parseStat(pid: number, text: string): Stat | undefined {
  // comm (field 2) may hold spaces and parentheses: the fields that follow start after the last ')'
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ');
  const pgrp = Number(rest[2]);
  const starttime = rest[19];
  if (!Number.isInteger(pgrp) || starttime === undefined) return undefined;
  return { pid, pgrp, starttime };
}

export const identity = (s: Stat) => `${s.pid}:${s.starttime}`;

/** Identities of the processes in process group `pgid` (the process backend's sandbox). */
export function processGroupIdentities(pgid: number, proc = '/proc'): string[] {
  let names: string[];
  try {
    names = readdirSync(proc);
  } catch {
    return [];
  }
  const pids = names.filter((n) => /^[0-9]+$/.test(n)).map(Number);
  const stats = pids.map((p) => readStat(p, proc));
  return stats.filter((s): s is Stat => s !== undefined && s.pgrp === pgid).map(identity);
}
