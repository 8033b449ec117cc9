/**
 * What a sandbox runs, from an OCI image config and agni.yaml's overrides, with Docker's rules:
 * agni.yaml `entrypoint` replaces Entrypoint (and drops the image's Cmd, as `docker run
 * --entrypoint` does); `command` replaces Cmd; `env` entries override the image's Env;
 * `workdir` replaces WorkingDir; `user` replaces User. Pure.
 *
 * User: numeric `uid[:gid]` or names resolved through the image's /etc/passwd and /etc/group.
 * Unset (in both) stays 65534 (nobody). Agni never runs a sandbox as uid or gid 0: there is no user
 * namespace, so uid 0 inside would be host root (no capabilities, no_new_privs, but still the owner
 * of every root-owned file a mount exposes). Root in the image maps to 65534; layers are unpacked
 * root-owned and the root is read-only, so an image made for root still reads all it needs.
 */
import { AgniError } from '../../core/errors.js';
import { parseGroup, parsePasswd } from './passwd.js';

export const NOBODY = 65534;

export interface ImageConfig {
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Env?: string[] | null;
  WorkingDir?: string;
  User?: string;
}

export interface ProcessOverrides {
  entrypoint?: string[];
  /** agni.yaml `command`; empty or absent: the image's Cmd */
  command?: string[];
  env?: Record<string, string>;
  workdir?: string;
  user?: string;
}

export interface ImageFiles {
  passwd?: string;
  group?: string;
}

export interface ResolvedProcess {
  args: string[];
  env: Record<string, string>;
  cwd: string;
  uid: number;
  gid: number;
}

function bad(field: string, why: string, hint?: string): AgniError {
  return new AgniError('manifest_invalid', `agni.yaml: field \`${field}\`: ${why}`, {
    details: { file: 'agni.yaml', field },
    ...(hint ? { hint } : {}),
  });
}

const strings = (v: unknown): string[] | undefined =>
  Array.isArray(v) && v.every((s) => typeof s === 'string') ? v : undefined;

/** The `config` part of an image config blob (application/vnd.oci.image.config.v1+json); lenient like Docker. */
export function parseImageConfig(blob: unknown): ImageConfig {
  const c = (blob as { config?: Record<string, unknown> } | null)?.config;
  if (!c || typeof c !== 'object') return {};
  const out: ImageConfig = {};
  const ep = strings(c.Entrypoint);
  const cmd = strings(c.Cmd);
  const env = strings(c.Env);
  if (ep) out.Entrypoint = ep;
  if (cmd) out.Cmd = cmd;
  if (env) out.Env = env;
  if (typeof c.WorkingDir === 'string' && c.WorkingDir) out.WorkingDir = c.WorkingDir;
  if (typeof c.User === 'string' && c.User) out.User = c.User;
  return out;
}

/** argv: fails naming `command` when neither agni.yaml nor the image says what to run. */
export function resolveArgs(
  config: ImageConfig | undefined,
  o: Pick<ProcessOverrides, 'entrypoint' | 'command'>,
): string[] {
  const entrypoint = o.entrypoint ?? config?.Entrypoint ?? [];
  const cmd = o.command?.length ? o.command : o.entrypoint ? [] : (config?.Cmd ?? []);
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) {
    throw bad(
      'command',
      config
        ? 'required: the image config has no Entrypoint or Cmd'
        : 'required: this runtime has no image config to take a Cmd from',
      'add `command:` to agni.yaml',
    );
  }
  return args;
}

/** Image Env ("K=V" list), then agni.yaml env on top. */
export function resolveEnv(
  config: ImageConfig | undefined,
  env: Record<string, string> = {},
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const kv of config?.Env ?? []) {
    const i = kv.indexOf('=');
    if (i > 0) out[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return { ...out, ...env };
}

const safe = (id: number) => (id === 0 ? NOBODY : id);

/** `uid`, `uid:gid`, `name`, `name:group` (either side numeric or a name) → ids; 0 maps to 65534. */
export function resolveUser(
  user: string | undefined,
  files: ImageFiles = {},
  field = 'user',
): { uid: number; gid: number } {
  if (user === undefined || user === '') return { uid: NOBODY, gid: NOBODY };
  const [u, g, ...more] = user.split(':');
  if (!u || more.length > 0 || g === '')
    throw bad(field, `expected uid[:gid] or name[:group] (got "${user}")`);
  let uid: number;
  let primary: number | undefined;
  if (/^\d+$/.test(u)) {
    uid = Number(u);
    primary = parsePasswd(files.passwd ?? '').find((e) => e.uid === uid)?.gid;
  } else {
    const e = parsePasswd(files.passwd ?? '').find((p) => p.name === u);
    if (!e) throw bad(field, `user "${u}" is not in the image's /etc/passwd`, 'use a numeric uid[:gid]');
    uid = e.uid;
    primary = e.gid;
  }
  let gid: number;
  if (g === undefined)
    gid = primary ?? 0; // Docker: no passwd entry means group 0 (mapped to 65534 below)
  else if (/^\d+$/.test(g)) gid = Number(g);
  else {
    const e = parseGroup(files.group ?? '').find((x) => x.name === g);
    if (!e) throw bad(field, `group "${g}" is not in the image's /etc/group`, 'use a numeric gid');
    gid = e.gid;
  }
  if (uid > 0xfffffffe || gid > 0xfffffffe) throw bad(field, `ids must be below 4294967295 (got "${user}")`);
  return { uid: safe(uid), gid: safe(gid) };
}

/** The whole process of a sandbox. `defaultCwd` is used when neither side sets a working dir. */
export function resolveProcess(
  config: ImageConfig | undefined,
  o: ProcessOverrides,
  files: ImageFiles = {},
  defaultCwd = '/',
): ResolvedProcess {
  const args = resolveArgs(config, o);
  const env = resolveEnv(config, o.env);
  const cwd = o.workdir ?? config?.WorkingDir ?? defaultCwd;
  const fromManifest = o.user !== undefined;
  const { uid, gid } = resolveUser(
    o.user ?? config?.User,
    files,
    fromManifest ? 'user' : 'runtime (image config User)',
  );
  return { args, env, cwd, uid, gid };
}
