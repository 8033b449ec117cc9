import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  readlinkSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';

export interface HostMount {
  source: string;
  destination: string;
}

/** Top-level host dirs the `host` runtime needs. On merged-usr systems all but /usr are symlinks. */
const LIB_DIRS = ['/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32'];

/** the only users and groups the `host` runtime knows (agni.yaml `user:` names resolve here) */
export const HOST_PASSWD =
  'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/tmp:/usr/sbin/nologin\n';
export const HOST_GROUP = 'root:x:0:\nnogroup:x:65534:\n';

const FILES: Record<string, string> = {
  'etc/passwd': HOST_PASSWD,
  'etc/group': HOST_GROUP,
  'etc/hosts': '127.0.0.1\tlocalhost agni\n::1\tlocalhost\n',
  'etc/hostname': 'agni\n',
  'etc/nsswitch.conf': 'passwd: files\ngroup: files\nhosts: files dns\n',
};

function writeIfChanged(path: string, content: string): void {
  try {
    if (readFileSync(path, 'utf8') === content) return;
  } catch {
    // missing: write below
  }
  writeFileSync(path, content, { mode: 0o644 });
}

function isSymlink(path: string): boolean {
  try {
    return lstatSync(path).isSymbolicLink();
  } catch {
    return false;
  }
}

function exists(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

function isRealDir(path: string): boolean {
  try {
    return lstatSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Where the skeleton lives under $AGNI_HOME (one per home, shared by every host-runtime sandbox). */
export function hostSkeletonDir(home: string): string {
  return join(home, 'host-rootfs');
}

/**
 * Idempotently builds the thin-jail root used by the `host` runtime: an almost empty tree whose
 * only purpose is to hold mount points, so the host's /usr and libraries can be bind-mounted
 * read-only without exposing anything else of the host. Returns the bind mounts to add.
 */
export function ensureHostSkeleton(dir: string): HostMount[] {
  // mnt, srv, data: empty mount points for volumes (runc must never make one in this shared root)
  for (const d of [
    'usr',
    'etc',
    'tmp',
    'proc',
    'dev',
    'sys',
    'fn',
    'run',
    'var/tmp',
    'etc/alternatives',
    'mnt',
    'srv',
    'data',
  ]) {
    mkdirSync(join(dir, d), { recursive: true, mode: 0o755 });
  }
  // runc keeps the mountpoint's mode for the /tmp tmpfs; it must be world-writable + sticky.
  chmodSync(join(dir, 'tmp'), 0o1777);
  chmodSync(join(dir, 'var/tmp'), 0o1777);
  const mounts: HostMount[] = [{ source: '/usr', destination: '/usr' }];
  for (const hostPath of LIB_DIRS) {
    const target = join(dir, hostPath);
    if (isSymlink(hostPath)) {
      // Mirror merged-usr links (/bin -> usr/bin) so paths resolve into the mounted /usr.
      if (!exists(target)) symlinkSync(readlinkSync(hostPath), target);
    } else if (isRealDir(hostPath)) {
      mkdirSync(target, { recursive: true });
      mounts.push({ source: hostPath, destination: hostPath });
    }
  }
  for (const [rel, content] of Object.entries(FILES)) writeIfChanged(join(dir, rel), content);
  if (isRealDir('/etc/alternatives'))
    mounts.push({ source: '/etc/alternatives', destination: '/etc/alternatives' });
  if (existsSync('/etc/ld.so.cache')) {
    const mp = join(dir, 'etc/ld.so.cache');
    if (!existsSync(mp)) writeFileSync(mp, '');
    mounts.push({ source: '/etc/ld.so.cache', destination: '/etc/ld.so.cache' });
  }
  return mounts;
}
