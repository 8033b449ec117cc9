/**
 * Refuses new work that writes under $AGNI_HOME when its filesystem has less free space than the
 * operator keeps free (`agni up --min-free`), so a deploy, pull or payload never fills the disk to
 * its last byte (where SQLite, the logs and every running function would fail with it).
 */
import { statfs } from 'node:fs/promises';
import { lowDiskError, type MinFree, minFreeBytes } from '../core/limits.js';

export class DiskGuard {
  constructor(
    private readonly dir: string,
    private readonly min: MinFree,
  ) {}

  /** throws `insufficient_storage` (507) naming the free space, the threshold and the flag */
  async check(what: string): Promise<void> {
    if ('bytes' in this.min ? this.min.bytes === 0 : this.min.percent === 0) return;
    const st = await statfs(this.dir);
    // bavail, not bfree: what this (non-reserved) writer can actually use.
    const free = st.bavail * st.bsize;
    const need = minFreeBytes(this.min, st.blocks * st.bsize);
    if (free < need) throw lowDiskError(what, free, this.min, need);
  }
}
