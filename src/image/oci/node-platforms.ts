/**
 * The platforms this node can run, best first: its own, then those a binfmt_misc handler with the
 * F (fix-binary) flag emulates, e.g. qemu-aarch64 from qemu-user-static. Without F the kernel
 * would look the interpreter up inside each sandbox's root, where it does not exist.
 * AGNI_PLATFORMS ("linux/arm64,linux/amd64") replaces the list, e.g. to make an emulated ARM node.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { AgniError } from '../../core/errors.js';
import type { Platform } from './media-types.js';
import { formatPlatform, hostPlatform, parsePlatform } from './platform.js';

const BINFMT = '/proc/sys/fs/binfmt_misc';

/** binfmt_misc entry names of qemu-user-static, by the platform they run */
const EMULATORS: Record<string, Platform> = {
  'qemu-aarch64': { os: 'linux', architecture: 'arm64', variant: 'v8' },
  'qemu-arm': { os: 'linux', architecture: 'arm', variant: 'v7' },
  'qemu-riscv64': { os: 'linux', architecture: 'riscv64' },
  'qemu-ppc64le': { os: 'linux', architecture: 'ppc64le' },
  'qemu-s390x': { os: 'linux', architecture: 's390x' },
  'qemu-x86_64': { os: 'linux', architecture: 'amd64' },
  'qemu-i386': { os: 'linux', architecture: '386' },
};

/** Pure: which platforms enabled binfmt entries emulate (entry text as in /proc/sys/fs/binfmt_misc/NAME). */
export function emulatedPlatforms(entries: Record<string, string>): Platform[] {
  const out: Platform[] = [];
  for (const [name, text] of Object.entries(entries)) {
    const p = EMULATORS[name.replace(/-static$/, '')];
    if (!p) continue;
    const enabled = /^enabled$/m.test(text);
    const flags = /^flags:\s*(\S*)$/m.exec(text)?.[1] ?? '';
    if (enabled && flags.includes('F')) out.push(p);
  }
  return out;
}

export function parsePlatformList(text: string, what = 'AGNI_PLATFORMS'): Platform[] {
  const items = text
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);
  if (items.length === 0)
    throw new AgniError('bad_request', `${what}: expected os/arch[,os/arch...], e.g. linux/arm64`);
  return items.map((s) => {
    try {
      return parsePlatform(s);
    } catch {
      throw new AgniError('bad_request', `${what}: "${s}" is not os/arch[/variant], e.g. linux/arm64`);
    }
  });
}

function readBinfmt(): Record<string, string> {
  const out: Record<string, string> = {};
  let names: string[];
  try {
    names = readdirSync(BINFMT);
  } catch {
    return out;
  }
  for (const n of names) {
    if (n === 'register' || n === 'status') continue;
    try {
      out[n] = readFileSync(`${BINFMT}/${n}`, 'utf8');
    } catch {
      // an entry removed while reading
    }
  }
  return out;
}

function samePlatform(a: Platform, b: Platform): boolean {
  return formatPlatform(a) === formatPlatform(b);
}

export function nodePlatforms(env: NodeJS.ProcessEnv = process.env): Platform[] {
  if (env.AGNI_PLATFORMS) return parsePlatformList(env.AGNI_PLATFORMS);
  const out = [hostPlatform()];
  for (const p of emulatedPlatforms(readBinfmt())) if (!out.some((o) => samePlatform(o, p))) out.push(p);
  return out;
}
