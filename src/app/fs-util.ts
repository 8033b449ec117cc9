import { lstat, readdir } from 'node:fs/promises';
import { join } from 'node:path';

export interface TreeStats {
  bytes: number;
  files: number;
}

/** Walks a tree without following symlinks; `visit` may adjust each entry (e.g. permissions). */
export async function walkTree(
  root: string,
  visit?: (path: string, isDir: boolean, mode: number) => Promise<void>,
): Promise<TreeStats> {
  const stats: TreeStats = { bytes: 0, files: 0 };
  const stack = [root];
  while (stack.length) {
    const dir = stack.pop()!;
    for (const name of await readdir(dir)) {
      const p = join(dir, name);
      const st = await lstat(p);
      stats.files++;
      if (st.isDirectory()) stack.push(p);
      else if (st.isFile()) stats.bytes += st.size;
      if (visit && !st.isSymbolicLink()) await visit(p, st.isDirectory(), st.mode);
    }
  }
  return stats;
}
