/**
 * Whether a working directory is safe to hand to runc. runc creates a missing cwd (MkdirAll, as
 * root, inside the new root) before it makes the root read-only, so on a root that other sandboxes
 * share (the `host` runtime's skeleton, an imported image's unpacked rootfs) a missing workdir
 * would leave a directory every other function sees. The path is resolved the way runc's MkdirAll
 * sees it: chroot-style, through the sandbox's own mounts, every symlink resolved inside the
 * sandbox's view and never followed on the host.
 */
import { lstat, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { AgniError } from '../core/errors.js';

export interface RootView {
  /** host dir of the sandbox's `/`; undefined: a throw-away overlay, where anything may be made */
  root: string | undefined;
  /** bind mounts (/fn, the host runtime's /usr, ...): inside path → host path */
  binds: readonly { source: string; destination: string }[];
}

/** fresh per sandbox: whatever runc makes there dies with the sandbox */
const SCRATCH = ['/tmp'];
/** kernel filesystems (and the per-sandbox /dev): never a place to work in */
const KERNEL = ['/proc', '/sys', '/dev'];
const MAX_SYMLINKS = 40;

const under = (path: string, top: string) => path === top || path.startsWith(`${top}/`);

function hostPathOf(inside: string, view: RootView): string | undefined {
  let best: { source: string; destination: string } | undefined;
  for (const b of view.binds)
    if (under(inside, b.destination) && b.destination.length > (best?.destination.length ?? 0)) best = b;
  if (best) return join(best.source, inside.slice(best.destination.length));
  return view.root === undefined ? undefined : join(view.root, inside);
}

/** A workdir that is refused wherever the function runs: under /proc, /sys or /dev. */
export function kernelDirOf(path: string): string | undefined {
  return KERNEL.find((top) => under(path, top));
}

/**
 * undefined when runc would find `cwd` as a directory (or may make it harmlessly: /tmp, an
 * overlay's root); otherwise what is wrong, in words for the user (no host path).
 */
export async function workdirProblem(cwd: string, view: RootView): Promise<string | undefined> {
  if (!cwd.startsWith('/')) return 'it is not an absolute path';
  const todo = cwd.split('/');
  const done: string[] = [];
  let links = 0;
  while (todo.length > 0) {
    const part = todo.shift()!;
    if (part === '' || part === '.') continue;
    if (part === '..') {
      done.pop();
      continue;
    }
    const inside = `/${[...done, part].join('/')}`;
    const kernel = kernelDirOf(inside);
    if (kernel) return `it is under ${kernel}, a kernel filesystem`;
    const host = hostPathOf(inside, view);
    // A fresh tmpfs or a throw-away overlay: runc may make what is missing there, and nothing in
    // it is a link yet. The walk goes on: a later `..` can lead back onto a shared root.
    if (host === undefined || SCRATCH.some((top) => under(inside, top))) {
      done.push(part);
      continue;
    }
    let st: Awaited<ReturnType<typeof lstat>>;
    try {
      st = await lstat(host);
    } catch {
      return `${inside} does not exist in the sandbox's root, which is shared and read-only`;
    }
    if (st.isSymbolicLink()) {
      if (++links > MAX_SYMLINKS) return 'it goes through too many symbolic links';
      const target = await readlink(host);
      if (target.startsWith('/')) done.length = 0;
      todo.unshift(...target.split('/'));
      continue;
    }
    if (!st.isDirectory()) return `${inside} is not a directory`;
    done.push(part);
  }
  return undefined;
}

/** agni.yaml's `workdir` refused, naming the field; `problem` from workdirProblem. */
export function workdirError(cwd: string, problem: string): AgniError {
  return new AgniError(
    'manifest_invalid',
    `agni.yaml: field \`workdir\`: ${JSON.stringify(cwd)} cannot be the working directory: ${problem}`,
    {
      hint: 'use a directory of the function (under /fn) or of the image, or one under /tmp',
      details: { file: 'agni.yaml', field: 'workdir' },
    },
  );
}
