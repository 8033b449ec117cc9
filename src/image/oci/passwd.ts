/**
 * /etc/passwd and /etc/group of an image, for `User: name[:group]`. Parsing is pure; reading looks
 * through the unpacked layers top first, as the overlay would, without mounting anything.
 */
import { lstat, readFile } from 'node:fs/promises';
import { join } from 'node:path';

export interface PasswdEntry {
  name: string;
  uid: number;
  gid: number;
}

export interface GroupEntry {
  name: string;
  gid: number;
}

const num = (s: string | undefined) => (s !== undefined && /^\d+$/.test(s) ? Number(s) : undefined);

/** `name:x:uid:gid:...` lines; malformed lines are ignored, like libc does. */
export function parsePasswd(text: string): PasswdEntry[] {
  const out: PasswdEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    const uid = num(f[2]);
    const gid = num(f[3]);
    if (f[0] && uid !== undefined && gid !== undefined) out.push({ name: f[0], uid, gid });
  }
  return out;
}

/** `name:x:gid:members` lines. */
export function parseGroup(text: string): GroupEntry[] {
  const out: GroupEntry[] = [];
  for (const line of text.split('\n')) {
    const f = line.split(':');
    const gid = num(f[2]);
    if (f[0] && gid !== undefined) out.push({ name: f[0], gid });
  }
  return out;
}

/** Whether a parent dir of `relPath` under `dir` is a symlink, absent, or all real dirs. */
async function linkOnTheWay(dir: string, relPath: string): Promise<'link' | 'absent' | 'dirs'> {
  let at = dir;
  for (const part of relPath.split('/').slice(0, -1)) {
    at = join(at, part);
    const st = await lstat(at).catch(() => undefined);
    if (!st) return 'absent';
    if (st.isSymbolicLink()) return 'link';
  }
  return 'dirs';
}

/**
 * A regular file of the image as the merged view would show it: the top-most layer that has the
 * path wins; a whiteout (0:0 char device) there means absent. Symlinks are not followed (they would
 * resolve on the host). Opaque parent dirs are not consulted: /etc is never made opaque in practice.
 */
export async function readImageFile(layers: string[], relPath: string): Promise<string | undefined> {
  for (const dir of layers) {
    const p = join(dir, relPath);
    // `etc -> /etc` would read the host's file: a link on the way hides the file as one at the end does.
    const via = await linkOnTheWay(dir, relPath);
    if (via === 'link') return undefined;
    if (via === 'absent') continue;
    try {
      const st = await lstat(p);
      if (st.isFile()) return await readFile(p, 'utf8');
      return undefined; // a whiteout, a symlink or a dir hides the lower layers' file
    } catch {
      // not in this layer
    }
  }
  return undefined;
}
