/**
 * Lists a directory for a tar: every directory, regular file and symlink, never following a
 * symlink (it is stored as one), parents before children, sorted bytewise so the order does not
 * depend on readdir. Sockets, FIFOs and devices are listed apart: they have no place in a tar Agni
 * unpacks (sandboxes get their own /dev), and node-tar may stall on them.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';

export interface DirListing {
  /** relative, `/`-separated */
  paths: string[];
  /** what `skip` left out; a directory (with a trailing `/`) stands for everything under it */
  skipped: string[];
  /** sockets, FIFOs and device nodes, left out */
  special: string[];
}

/** `skip(rel, isDir)` leaves an entry out; a skipped directory is not entered. */
export async function listDir(
  root: string,
  skip?: (rel: string, isDir: boolean) => boolean,
): Promise<DirListing> {
  const out: DirListing = { paths: [], skipped: [], special: [] };
  const walk = async (rel: string): Promise<void> => {
    for (const d of await readdir(join(root, rel), { withFileTypes: true })) {
      const p = rel ? `${rel}/${d.name}` : d.name;
      if (!d.isDirectory() && !d.isFile() && !d.isSymbolicLink()) {
        out.special.push(p);
        continue;
      }
      if (skip?.(p, d.isDirectory())) {
        out.skipped.push(d.isDirectory() ? `${p}/` : p);
        continue;
      }
      out.paths.push(p);
      if (d.isDirectory()) await walk(p);
    }
  };
  await walk('');
  const bytewise = (a: string, b: string) => Buffer.compare(Buffer.from(a), Buffer.from(b));
  out.paths.sort(bytewise);
  out.skipped.sort(bytewise);
  out.special.sort(bytewise);
  return out;
}
