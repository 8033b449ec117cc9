/**
 * Image aliases: a canonical image name stands for another, single-arch image on nodes of one
 * architecture (`agni image alias set CANONICAL --arch arm64 IMAGE`). Pure rules: names normalised
 * as references, architectures named as OCI (GOARCH) names them, and which alias fits a node.
 */
import { AgniError } from '../../core/errors.js';
import type { Platform } from './media-types.js';
import { formatReference, parseReference } from './reference.js';

/** GOARCH names an OCI image's `architecture` can have (image-spec, config.md) */
export const OCI_ARCHES: readonly string[] = [
  '386',
  'amd64',
  'arm',
  'arm64',
  'loong64',
  'mips',
  'mipsle',
  'mips64',
  'mips64le',
  'ppc64',
  'ppc64le',
  'riscv64',
  's390x',
];

/** what `uname -m` (and others) call them, so a wrong guess gets a useful hint */
const OTHER_NAMES: Record<string, string> = {
  x86_64: 'amd64',
  x64: 'amd64',
  aarch64: 'arm64',
  armv7l: 'arm/v7',
  armhf: 'arm/v7',
  armel: 'arm/v5',
  i386: '386',
  i686: '386',
  x86: '386',
  ppc64el: 'ppc64le',
};

const VARIANT = /^v[0-9]+(?:\.[0-9]+)?$/;

export interface ImageAliasInput {
  canonical: string;
  arch: string;
  image: string;
}

/**
 * An arch as `arch[/variant]`, e.g. arm64, arm/v7, amd64/v3. arm64's variant v8 is the default and
 * is dropped, so `arm64/v8` and `arm64` are one key.
 */
export function parseArch(s: string, what = 'arch'): string {
  const [arch, variant, more] = s.split('/');
  const why = (reason: string, hint: string) =>
    new AgniError('bad_request', `${what} "${s}": ${reason}`, { hint, details: { field: what } });
  if (more !== undefined || !arch) {
    throw why(
      'expected an architecture with an optional /variant',
      `e.g. arm64, amd64 or arm/v7 (no os: "linux/arm64" is written arm64)`,
    );
  }
  if (!OCI_ARCHES.includes(arch)) {
    const other = OTHER_NAMES[arch.toLowerCase()];
    throw why(
      'not an OCI architecture name',
      other
        ? `OCI calls ${arch} "${other}"`
        : `use one of ${OCI_ARCHES.join(', ')}, with an optional /variant`,
    );
  }
  if (variant === undefined) return arch;
  if (!VARIANT.test(variant))
    throw why(`variant "${variant}" is not v<number>`, 'e.g. arm/v7, arm64/v8, amd64/v3');
  if (arch === 'arm64' && variant === 'v8') return arch;
  return `${arch}/${variant}`;
}

/** The stored form of an image name: registry/repository[:tag][@digest], as parseReference reads it. */
export function normaliseImageName(ref: string): string {
  return formatReference(parseReference(ref));
}

export function checkAlias(a: ImageAliasInput): ImageAliasInput {
  const canonical = normaliseImageName(a.canonical);
  const image = normaliseImageName(a.image);
  const arch = parseArch(a.arch);
  if (canonical === image) {
    throw new AgniError('bad_request', `image alias: ${canonical} cannot be an alias of itself`, {
      hint: 'a canonical name with no alias for an arch is used as it is; remove the alias instead',
    });
  }
  return { canonical, arch, image };
}

/** The arch key of a node's platform, in the form parseArch gives. */
export function archKey(p: Platform): string {
  if (!p.variant || (p.architecture === 'arm64' && p.variant === 'v8')) return p.architecture;
  return `${p.architecture}/${p.variant}`;
}

/**
 * The alias that fits a node's platform: the exact arch/variant first, then one set for the arch
 * without a variant. undefined: the canonical name is used unchanged.
 */
export function pickAlias(
  aliases: readonly { arch: string; image: string }[],
  p: Platform,
): string | undefined {
  const key = archKey(p);
  return (aliases.find((a) => a.arch === key) ?? aliases.find((a) => a.arch === p.architecture))?.image;
}
