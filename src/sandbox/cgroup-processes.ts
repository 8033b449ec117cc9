/**
 * The processes of a warm worker's sandbox, as identities (`pid:starttime`, proc-snapshot.ts),
 * read again after every call to find what a call left running. Each process's /proc/PID/stat stays
 * open: a read is one pread of it, where reading it afresh cost an open, a stat, a read and a close
 * (with cgroup.procs, the largest cost of a warm call after the store's in a profile under load). A
 * stat file opened on a process stays that process's: once it exits, reads fail (ESRCH) even when
 * its pid is reused, and the new process's file is opened.
 */
import { closeSync, openSync, readFileSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { identity, parseStat } from './proc-snapshot.js';

const BUF_BYTES = 64 * 1024;
/** stat files kept open per sandbox; a worker with more processes has the rest read afresh */
const MAX_OPEN = 16;

export class CgroupProcesses {
  private readonly stats = new Map<number, number>();
  private readonly buf = Buffer.alloc(BUF_BYTES);
  private closed = false;

  constructor(
    /** the leaf's cgroup.procs */
    private readonly procsFile: string,
    private readonly proc = '/proc',
  ) {}

  /** Throws when cgroup.procs cannot be read: then nobody can say which processes the sandbox has. */
  identities(): string[] {
    if (this.closed) throw new Error('the sandbox is gone');
    // Opened afresh each time: cgroup v1 keeps the pid list it built for an open file and serves it
    // again to a re-read of that file for a second, which would hide a process a call just left.
    const procs = openSync(this.procsFile, 'r');
    let n: number;
    try {
      n = readSync(procs, this.buf, 0, BUF_BYTES, 0);
    } finally {
      closeSync(procs);
    }
    const text = n < BUF_BYTES ? this.buf.toString('latin1', 0, n) : readFileSync(this.procsFile, 'latin1');
    const pids = new Set(
      text
        .split('\n')
        .filter((l) => l.trim() !== '')
        .map(Number),
    );
    for (const [pid, fd] of this.stats)
      if (!pids.has(pid)) {
        closeSync(fd);
        this.stats.delete(pid);
      }
    const out: string[] = [];
    for (const pid of pids) {
      const id = this.identityOf(pid);
      if (id !== undefined) out.push(id);
    }
    return out;
  }

  close(): void {
    this.closed = true;
    for (const fd of this.stats.values()) closeSync(fd);
    this.stats.clear();
  }

  private identityOf(pid: number): string | undefined {
    const open = this.stats.get(pid);
    if (open !== undefined) {
      const id = this.read(pid, open);
      if (id !== undefined) return id;
      closeSync(open); // that process exited: its pid may be another's now
      this.stats.delete(pid);
    }
    let fd: number;
    try {
      fd = openSync(join(this.proc, String(pid), 'stat'), 'r');
    } catch {
      return undefined; // exited meanwhile
    }
    const id = this.read(pid, fd);
    if (id === undefined || this.stats.size >= MAX_OPEN) closeSync(fd);
    else this.stats.set(pid, fd);
    return id;
  }

  private read(pid: number, fd: number): string | undefined {
    let n: number;
    try {
      n = readSync(fd, this.buf, 0, 4096, 0);
    } catch {
      return undefined; // ESRCH: gone
    }
    const s = n > 0 ? parseStat(pid, this.buf.toString('latin1', 0, n)) : undefined;
    return s ? identity(s) : undefined;
  }
}
