/**
 * Volumes: named host directories the operator declares on a node (`agni up --volume
 * NAME=/host/path[:ro|:rw]`), which a function mounts by name (agni.yaml `volumes:`). A function
 * never names a host path; a volume is read-write only when both the operator and the manifest
 * say so. Pure: parsing and the rules, no I/O.
 */
import { posix } from 'node:path';
import { AgniError } from './errors.js';

/** a volume's name: also a `--ref VOLUME:/glob` prefix, so no `:` or `/` */
export const VOLUME_NAME_RE = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export type VolumeMode = 'ro' | 'rw';

/** What the operator declared on a node. */
export interface VolumeDecl {
  name: string;
  /** absolute host directory */
  hostPath: string;
  /** the operator allows writes (`:rw`); the default is read-only */
  mode: VolumeMode;
}

/** agni.yaml `volumes:` entry: which volume, where inside the sandbox, and how. */
export interface VolumeMount {
  name: string;
  /** absolute mount point inside the sandbox */
  path: string;
  mode: VolumeMode;
}

/**
 * Who writes a file onto a volume: `writer` (an invocation's id) goes into its temporary file's
 * name; `sweep` says an earlier write of the same writer may have died midway (a crash), so its
 * temporary files left beside the name are removed first (a read of the directory: not for every
 * file).
 */
export interface VolumeWriter {
  writer: string;
  sweep: boolean;
}

/**
 * Refuses (bad_request, starting with `field`) to write into `volume` on behalf of a function
 * version whose manifest does not mount it read-write (a job's `output_to`): the server writes
 * only where the function itself may. Checked when a job is made and for each item it submits.
 */
export function assertWritesVolume(
  fn: { function: string; version: number; manifest: { volumes?: readonly VolumeMount[] } },
  volume: string,
  field: string,
): void {
  if ((fn.manifest.volumes ?? []).some((m) => m.name === volume && m.mode === 'rw')) return;
  throw new AgniError(
    'bad_request',
    `${field}: ${fn.function} v${fn.version} does not mount volume ${volume} read-write, so its outputs may not be written there`,
    { hint: `add \`volumes: [{name: ${volume}, path: /mnt, mode: rw}]\` to its agni.yaml and deploy again` },
  );
}

/**
 * Places a volume may not be mounted: kernel filesystems and the per-sandbox /dev, the function's
 * own read-only files, the platform's files (/run/secrets, /.agni, /agni), and the root itself.
 */
const RESERVED = ['/proc', '/sys', '/dev', '/fn', '/run/secrets', '/.agni', '/agni'];

const under = (path: string, top: string) => path === top || path.startsWith(`${top}/`);

/** why `path` cannot be a volume's mount point, or undefined */
export function mountPathProblem(path: string): string | undefined {
  if (!path.startsWith('/')) return 'an absolute path inside the sandbox, e.g. /data';
  if (path.includes('\0')) return 'a path without NUL characters';
  if (posix.normalize(path) !== path || path.endsWith('/'))
    return 'a normalised path (no `.`, `..`, `//` or trailing `/`)';
  if (path === '/') return 'a directory below / (the root cannot be replaced)';
  const top = RESERVED.find((r) => under(path, r) || under(r, path));
  if (top) return `a path outside ${top} (reserved for the platform)`;
  return undefined;
}

/** `NAME=/host/path[:ro|:rw]` of `--volume`; throws naming the flag. */
export function parseVolumeFlag(raw: string, flag = '--volume'): VolumeDecl {
  const bad = (why: string) =>
    new AgniError('bad_request', `${flag}: ${why} (got ${JSON.stringify(raw)})`, {
      hint: `e.g. ${flag} data=/srv/data:ro or ${flag} scratch=/srv/scratch:rw`,
    });
  const eq = raw.indexOf('=');
  if (eq <= 0) throw bad('expected NAME=/host/path[:ro|:rw]');
  const name = raw.slice(0, eq);
  if (!VOLUME_NAME_RE.test(name))
    throw bad('the name must be lowercase letters, digits, _ and -, starting with a letter or digit');
  let hostPath = raw.slice(eq + 1);
  let mode: VolumeMode = 'ro';
  const m = /:(ro|rw)$/.exec(hostPath);
  if (m) {
    mode = m[1] as VolumeMode;
    hostPath = hostPath.slice(0, -3);
  }
  if (!hostPath.startsWith('/')) throw bad('the host path must be absolute');
  if (hostPath.includes('\0')) throw bad('the host path may not contain NUL');
  hostPath = posix.normalize(hostPath);
  if (hostPath.length > 1 && hostPath.endsWith('/')) hostPath = hostPath.slice(0, -1);
  if (hostPath === '/') throw bad('the host path may not be / (name a directory below it)');
  return { name, hostPath, mode };
}

/** Every `--volume`, names distinct; throws naming the flag. */
export function parseVolumeFlags(raws: readonly string[], flag = '--volume'): VolumeDecl[] {
  const out: VolumeDecl[] = [];
  for (const raw of raws) {
    const d = parseVolumeFlag(raw, flag);
    if (out.some((o) => o.name === d.name))
      throw new AgniError('bad_request', `${flag}: volume ${d.name} is declared twice`);
    out.push(d);
  }
  return out;
}

/**
 * agni.yaml `volumes:` as read by the manifest's schema, checked beyond it: names and mount points
 * distinct, no mount point inside another. Returns the first problem as [field, expected, got].
 */
export function volumeMountsProblem(
  mounts: readonly { name: string; path: string; mode?: VolumeMode }[],
): [field: string, expected: string, got: unknown] | undefined {
  for (let i = 0; i < mounts.length; i++) {
    const m = mounts[i]!;
    const problem = mountPathProblem(m.path);
    if (problem) return [`volumes[${i}].path`, problem, m.path];
    for (let j = 0; j < i; j++) {
      const o = mounts[j]!;
      if (o.name === m.name)
        return [`volumes[${i}].name`, `a volume not already mounted (volumes[${j}])`, m.name];
      if (under(m.path, o.path) || under(o.path, m.path))
        return [`volumes[${i}].path`, `a mount point apart from volumes[${j}]'s (${o.path})`, m.path];
    }
  }
  return undefined;
}

/** read-only unless both the operator's declaration and the manifest say rw */
export function effectiveMode(mount: VolumeMount, decl: VolumeDecl): VolumeMode {
  return mount.mode === 'rw' && decl.mode === 'rw' ? 'rw' : 'ro';
}

/** the error for a manifest that names a volume nobody declared; `where` says where (e.g. "this server") */
export function unknownVolumeError(
  index: number,
  name: string,
  known: readonly string[],
  where = 'this server',
): AgniError {
  const list = known.length > 0 ? [...known].sort().join(', ') : 'none';
  return new AgniError(
    'manifest_invalid',
    `agni.yaml: field \`volumes[${index}].name\`: no volume ${JSON.stringify(name)} on ${where}; volumes that exist: ${list}`,
    {
      hint: 'the operator declares volumes with `agni up --volume NAME=/host/path[:ro|:rw]` (or `agni agent --volume`)',
      details: { file: 'agni.yaml', field: `volumes[${index}].name`, volumes: [...known].sort() },
    },
  );
}

/** Throws unknownVolumeError for the first of `mounts` not among `known`. */
export function checkVolumeNames(
  mounts: readonly { name: string }[] | undefined,
  known: readonly string[],
  where?: string,
): void {
  (mounts ?? []).forEach((m, i) => {
    if (!known.includes(m.name)) throw unknownVolumeError(i, m.name, known, where);
  });
}

/** A job input that is a file already on a volume: its path relative to the volume's directory. */
export interface InputRef {
  volume: string;
  /** relative, normalised, no `..` */
  path: string;
}

/** `VOLUME:/path`, as stored and shown (an item's name) */
export function refText(ref: InputRef): string {
  return `${ref.volume}:/${ref.path}`;
}

/** the InputRef of refText's form; undefined when `text` is not one */
export function refOf(text: string | null | undefined): InputRef | undefined {
  if (!text) return undefined;
  const m = /^([a-z0-9][a-z0-9_-]{0,62}):\/(.+)$/.exec(text);
  if (!m) return undefined;
  const path = m[2]!;
  if (posix.normalize(path) !== path || path.startsWith('../') || path === '..') return undefined;
  return { volume: m[1]!, path };
}

/**
 * `VOLUME:/path` split and checked where both kinds agree (a volume's name, a path from its top,
 * no `.` or `..` segment, no NUL); `what` is the path's kind (glob, directory), `e.g.` the hint.
 */
function volumeSpec(
  raw: string,
  field: string,
  what: string,
  eg: string,
): { volume: string; path: string; bad: (why: string) => AgniError } {
  const bad = (why: string) =>
    new AgniError('bad_request', `${field}: ${why} (got ${JSON.stringify(raw)})`, { hint: eg });
  const colon = raw.indexOf(':');
  if (colon <= 0) throw bad(`expected VOLUME:/${what}`);
  const volume = raw.slice(0, colon);
  if (!VOLUME_NAME_RE.test(volume)) throw bad('the volume name must be lowercase letters, digits, _ and -');
  const path = raw.slice(colon + 1);
  if (!path.startsWith('/')) throw bad(`the ${what} must start with / (the volume's top)`);
  if (path.includes('\0')) throw bad(`the ${what} may not contain NUL`);
  if (path.split('/').some((p) => p === '..' || p === '.'))
    throw bad(`the ${what} may not contain \`.\` or \`..\` segments: it never leaves the volume`);
  return { volume, path, bad };
}

/** `VOLUME:/glob` of `agni map --ref`; throws naming `field`. */
export function parseRefSpec(raw: string, field = '--ref'): { volume: string; pattern: string } {
  const { volume, path, bad } = volumeSpec(
    raw,
    field,
    'glob',
    "e.g. --ref 'data:/shards/*.smi' (a volume the function mounts, and a glob inside it)",
  );
  if (path.includes('\\')) throw bad('the glob may not contain \\');
  if (path === '/') throw bad("the glob must name files below the volume's top");
  return { volume, pattern: path };
}

/**
 * `VOLUME:/dir`, where a job's outputs are also written (`agni map --out-to`, `output_to`): the
 * volume and the directory below its top (`''` for the top itself, else no leading or trailing /).
 */
export function parseOutputSpec(raw: string, field = '--out-to'): { volume: string; dir: string } {
  const { volume, path, bad } = volumeSpec(
    raw,
    field,
    'directory',
    "e.g. --out-to 'results:/run-1' (a read-write volume of the server, and a directory in it)",
  );
  if (path.length > 1024) throw bad('the directory may not pass 1024 bytes');
  return {
    volume,
    dir: path
      .split('/')
      .filter((p) => p !== '')
      .join('/'),
  };
}

/** the in-sandbox path of a referenced file, for a function that mounts its volume at `mountPath` */
export function insidePath(mountPath: string, ref: InputRef): string {
  return posix.join(mountPath, ref.path);
}
