/**
 * A sandbox's root filesystem: image layers as overlayfs lowers, and a throw-away upper and work
 * directory inside the sandbox's own directory. Mounted with util-linux `mount -t overlay`.
 *
 * Mount options must fit in one page (4096 bytes, including the terminating NUL). When all lowers
 * share a parent directory (the layer store), the mount runs with that directory as its cwd and
 * names each lower relatively (65 bytes a layer for a sha256 hex name), so about 60 layers fit;
 * more than fit is refused with a clear error rather than truncated by the kernel.
 */
import { execFile } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { AgniError } from '../../core/errors.js';

const execFileP = promisify(execFile);

/** The kernel copies mount data into one page; the string plus its NUL must fit. */
export const MOUNT_OPTIONS_MAX = 4095;

export interface OverlayRoot {
  /** the merged view: the sandbox's root filesystem */
  merged: string;
  /** the directory holding upper, work and merged; removed by unmount() */
  dir: string;
  /** unmounts (retrying while busy) and removes the upper dir; safe to call twice */
  unmount(): Promise<void>;
}

/** The `-o` string and the cwd to mount from (pure). Lowers are top first, as overlayfs wants them. */
export function overlayOptions(
  lowerDirs: string[],
  upper: string,
  work: string,
): { options: string; cwd: string | undefined } {
  if (lowerDirs.length === 0)
    throw new AgniError('sandbox_error', 'an overlay root needs at least one layer directory');
  for (const d of lowerDirs) {
    if (/[,:\\]/.test(d) || d.includes('\n'))
      throw new AgniError(
        'sandbox_error',
        `layer directory "${d}" has a character overlayfs options cannot hold (, : \\)`,
      );
  }
  const abs = lowerDirs.map((d) => resolve(d));
  const parents = new Set(abs.map((d) => dirname(d)));
  const shared = parents.size === 1 ? [...parents][0]! : undefined;
  const lower = shared ? abs.map((d) => basename(d)).join(':') : abs.join(':');
  const options = `lowerdir=${lower},upperdir=${upper},workdir=${work}`;
  if (options.length > MOUNT_OPTIONS_MAX) {
    throw new AgniError(
      'sandbox_error',
      `${lowerDirs.length} layers make overlay mount options of ${options.length} bytes, over the kernel's ${MOUNT_OPTIONS_MAX}`,
      { hint: 'flatten the image (fewer layers), e.g. by squashing it when it is built' },
    );
  }
  return { options, cwd: shared };
}

/** Mount points at or under `dir`, deepest first, from /proc/self/mountinfo (field 5, octal-escaped). */
export function mountsUnder(dir: string, mountinfo = readFileSync('/proc/self/mountinfo', 'utf8')): string[] {
  const root = resolve(dir);
  const out: string[] = [];
  for (const line of mountinfo.split('\n')) {
    const field = line.split(' ')[4];
    if (!field) continue;
    const mp = field.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(Number.parseInt(o, 8)));
    if (mp === root || mp.startsWith(`${root}/`)) out.push(mp);
  }
  return out.sort((a, b) => b.length - a.length);
}

/** Unmounts `mountPoint`, retrying while busy; as a last resort detaches it lazily so nothing stays mounted. */
export async function unmountPath(mountPoint: string): Promise<void> {
  for (let i = 0; i < 10; i++) {
    try {
      await execFileP('umount', [mountPoint]);
      return;
    } catch (e) {
      const msg = String((e as { stderr?: string }).stderr ?? (e as Error).message);
      if (/not mounted|no mount point|not found/i.test(msg)) return;
      await new Promise((r) => setTimeout(r, 50 * (i + 1)));
    }
  }
  await execFileP('umount', ['-l', mountPoint]);
}

/** Mounts the overlay root at `<sandboxDir>/overlay/merged`. On failure nothing is left mounted or created. */
export async function mountOverlayRoot(lowerDirs: string[], sandboxDir: string): Promise<OverlayRoot> {
  const dir = join(resolve(sandboxDir), 'overlay');
  const upper = join(dir, 'upper');
  const work = join(dir, 'work');
  const merged = join(dir, 'merged');
  const { options, cwd } = overlayOptions(lowerDirs, upper, work);
  await Promise.all([upper, work, merged].map((d) => mkdir(d, { recursive: true, mode: 0o755 })));
  try {
    await execFileP('mount', ['-t', 'overlay', 'overlay', '-o', options, merged], cwd ? { cwd } : {});
  } catch (e) {
    await rm(dir, { recursive: true, force: true });
    const msg = String((e as { stderr?: string }).stderr || (e as Error).message).trim();
    throw new AgniError('sandbox_error', `cannot mount the overlay root: ${msg}`, { cause: e });
  }
  let done: Promise<void> | undefined;
  const unmount = () => {
    done ??= (async () => {
      for (const mp of mountsUnder(dir)) await unmountPath(mp);
      // rm through a live mount would delete inside the merged view instead of the upper dir.
      if (mountsUnder(dir).length > 0)
        throw new AgniError('sandbox_error', `overlay root ${merged} is still mounted`);
      await rm(dir, { recursive: true, force: true });
    })();
    return done;
  };
  return { merged, dir, unmount };
}
