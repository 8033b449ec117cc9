/**
 * A real arm64 rootfs for tests: Debian's busybox-static for arm64 (fetched by
 * scripts/fetch-arm64-busybox.sh), which this x86_64 machine runs through qemu-user-static's
 * binfmt_misc entry (scripts/setup-binfmt.sh). Like busybox-rootfs.ts: one binary, a link per applet.
 */
import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { create } from 'tar';
import { makeBusyboxRootfs } from '../../src/image/busybox-rootfs.js';

export const ARM64_BUSYBOX_DEB = join(
  process.env.AGNI_DEB_CACHE ?? '/var/cache/agni',
  'busybox-static_arm64.deb',
);
const QEMU = '/usr/bin/qemu-aarch64-static';
const BINFMT_ENTRY = '/proc/sys/fs/binfmt_misc/qemu-aarch64';

/** Why arm64 binaries cannot run here, or undefined when they can (also inside sandboxes: flag F). */
export function arm64EmulationProblem(): string | undefined {
  if (!existsSync(ARM64_BUSYBOX_DEB)) return `${ARM64_BUSYBOX_DEB} is missing`;
  if (!existsSync(QEMU)) return `${QEMU} is missing (Debian package qemu-user-static)`;
  let entry: string;
  try {
    entry = readFileSync(BINFMT_ENTRY, 'utf8');
  } catch {
    return `no binfmt_misc entry ${BINFMT_ENTRY}`;
  }
  if (!/^enabled$/m.test(entry)) return `${BINFMT_ENTRY} is disabled`;
  if (!/^flags:.*F/m.test(entry)) return `${BINFMT_ENTRY} lacks the F (fix-binary) flag`;
  return undefined;
}

function requireEmulation(): void {
  const problem = arm64EmulationProblem();
  if (problem) throw new Error(`arm64 emulation is not set up: ${problem}; run scripts/setup.sh as root`);
}

/** Builds the rootfs in `dir` (idempotent) and returns it. */
export function makeArm64BusyboxRootfs(dir: string): string {
  requireEmulation();
  return makeBusyboxRootfs(dir, {
    install(bin) {
      const x = mkdtempSync(join(tmpdir(), 'agni-arm64-deb-'));
      try {
        execFileSync('dpkg-deb', ['-x', ARM64_BUSYBOX_DEB, x]);
        copyFileSync(join(x, 'bin', 'busybox'), bin);
        chmodSync(bin, 0o755);
      } finally {
        rmSync(x, { recursive: true, force: true });
      }
    },
    // Asked through qemu explicitly, so the applet list does not depend on binfmt_misc.
    listCommand: (bin) => [QEMU, bin, '--list'],
  });
}

/** A gzip image layer of that rootfs, like registry.ts busyboxLayer() for the host's busybox. */
export async function arm64BusyboxLayer(): Promise<Buffer> {
  const dir = mkdtempSync(join(tmpdir(), 'agni-arm64-layer-'));
  try {
    const root = makeArm64BusyboxRootfs(join(dir, 'rootfs'));
    const chunks: Buffer[] = [];
    for await (const c of create({ cwd: root, portable: true }, ['.'])) chunks.push(c as Buffer);
    return gzipSync(Buffer.concat(chunks));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
