import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const BUSYBOX = '/bin/busybox';

/** Where a rootfs's busybox comes from: how to put the binary at `target`, and how to ask it for its applets. */
export interface BusyboxSource {
  install(target: string): void;
  listCommand(installed: string): [string, ...string[]];
}

const HOST_BUSYBOX: BusyboxSource = {
  install: (target) => copyFileSync(BUSYBOX, target),
  listCommand: () => [BUSYBOX, '--list'],
};

/**
 * A minimal rootfs from busybox-static (Debian package busybox-static, installed by setup): one
 * binary plus a symlink per applet. Idempotent. `source` may bring another arch's busybox.
 */
export function makeBusyboxRootfs(dir: string, source: BusyboxSource = HOST_BUSYBOX): string {
  for (const d of ['bin', 'proc', 'dev', 'sys', 'tmp', 'fn', 'etc'])
    mkdirSync(join(dir, d), { recursive: true });
  chmodSync(join(dir, 'tmp'), 0o1777); // runc gives the /tmp tmpfs this mountpoint's mode
  const bin = join(dir, 'bin', 'busybox');
  if (!existsSync(bin)) source.install(bin);
  const [cmd, ...args] = source.listCommand(bin);
  const applets = execFileSync(cmd, args, { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const applet of applets) {
    const link = join(dir, 'bin', applet);
    if (applet !== 'busybox' && !existsSync(link)) symlinkSync('busybox', link);
  }
  writeFileSync(
    join(dir, 'etc', 'passwd'),
    'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/tmp:/bin/false\n',
  );
  writeFileSync(join(dir, 'etc', 'group'), 'root:x:0:\nnogroup:x:65534:\n');
  return dir;
}
