/** Which manifest of an index fits a node: Node's arch names mapped to OCI's. */
import { AgniError } from '../../core/errors.js';
import type { Descriptor, Platform } from './media-types.js';

const ARCH: Record<string, string> = {
  x64: 'amd64',
  arm64: 'arm64',
  arm: 'arm',
  ia32: '386',
  ppc64: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
  loong64: 'loong64',
};

export function hostPlatform(arch = process.arch, armVersion?: string): Platform {
  const architecture = ARCH[arch] ?? arch;
  if (architecture === 'arm') {
    const v = armVersion ?? (process.config.variables as { arm_version?: string }).arm_version ?? '7';
    return { os: 'linux', architecture, variant: `v${v}` };
  }
  if (architecture === 'arm64') return { os: 'linux', architecture, variant: 'v8' };
  return { os: 'linux', architecture };
}

export function parsePlatform(s: string): Platform {
  const parts = s.split('/');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^[a-z0-9_.-]+$/.test(p))) {
    throw new AgniError('bad_request', `--platform "${s}": expected os/arch[/variant], e.g. linux/arm64`);
  }
  const [os, architecture, variant] = parts as [string, string, string | undefined];
  return variant ? { os, architecture, variant } : { os, architecture };
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

/** arm64's variant is v8 when left out, so both spellings match each other. */
function variantOf(p: Platform): string | undefined {
  if (p.variant) return p.variant;
  return p.architecture === 'arm64' ? 'v8' : undefined;
}

/** Whether an image built for `image` runs on a node of platform `node` (os, arch and variant agree). */
export function platformRuns(image: Platform, node: Platform): boolean {
  if (image.os !== node.os || image.architecture !== node.architecture) return false;
  const v = variantOf(image);
  return v === undefined || v === variantOf(node);
}

/** The first of `wants` (best first) the index offers; the error lists what it has and what was wanted. */
export function selectManifestFor(manifests: Descriptor[], wants: Platform[], ref: string): Descriptor {
  for (const want of wants) {
    try {
      return selectManifest(manifests, want, ref);
    } catch (e) {
      if (!(e instanceof AgniError)) throw e;
    }
  }
  const has = manifests.filter((m) => m.platform).map((m) => formatPlatform(m.platform!));
  const wanted = wants.map(formatPlatform).join(', ');
  throw new AgniError(
    'platform_unsupported',
    `${ref}: no manifest for ${wanted}; the image runs on ${has.join(', ') || 'no declared platform'}`,
    {
      hint: 'run it on a node of one of those platforms, emulate one (qemu-user-static), or set an alias: agni image alias set CANONICAL --arch ARCH IMAGE',
      details: { platforms: has, wanted: wants.map(formatPlatform) },
    },
  );
}

export function selectManifest(manifests: Descriptor[], want: Platform, ref: string): Descriptor {
  const candidates = manifests.filter(
    (m) => m.platform && m.platform.os === want.os && m.platform.architecture === want.architecture,
  );
  const wantVariant = variantOf(want);
  const exact = candidates.find((m) => variantOf(m.platform!) === wantVariant);
  // An index that leaves variants out still fits: the arch is what has to match.
  const found =
    exact ?? candidates.find((m) => !m.platform!.variant) ?? (want.variant ? undefined : candidates[0]);
  if (found) return found;
  const has = manifests.filter((m) => m.platform).map((m) => formatPlatform(m.platform!));
  throw new AgniError('not_found', `${ref}: no manifest for platform ${formatPlatform(want)}`, {
    hint: `the image has ${has.length ? has.join(', ') : 'no platform entries'}; pick one with --platform`,
    details: { platforms: has },
  });
}
