/**
 * Deploy-time checks of agni.yaml against the runtime it names, for what only the resolved runtime
 * can tell: whether `workdir` exists where runc would otherwise create it on a shared root, and
 * whether `user` names someone that runtime's /etc/passwd knows. Refused at deploy, nothing recorded.
 */
import { AgniError } from '../core/errors.js';
import { type Manifest, NAME_RE } from '../core/manifest.js';
import { type ImageFiles, resolveUser } from '../image/oci/image-config.js';
import { parseGroup, parsePasswd, readImageFile } from '../image/oci/passwd.js';
import { ensureHostSkeleton, HOST_GROUP, HOST_PASSWD, hostSkeletonDir } from '../sandbox/host-rootfs.js';
import { type RootView, workdirError, workdirProblem } from '../sandbox/workdir.js';
import type { Store } from '../store/store.js';

export interface RuntimeCheckContext {
  home: string;
  store: Pick<Store, 'getImage'>;
  /** an OCI image's /etc/passwd and /etc/group (read when it was resolved), for `user:` names */
  imageFiles?: ImageFiles;
}

interface RuntimeRoot {
  view: RootView;
  /** passwd and group to resolve `user:` names in; undefined: resolved when it runs */
  files?: ImageFiles;
  /** how the runtime is named in errors */
  what: string;
}

async function runtimeRoot(
  m: Manifest,
  imageId: string,
  codeDir: string,
  ctx: RuntimeCheckContext,
): Promise<RuntimeRoot> {
  const fn = { source: codeDir, destination: '/fn' };
  if (imageId === 'host') {
    const mounts = ensureHostSkeleton(hostSkeletonDir(ctx.home));
    return {
      view: { root: hostSkeletonDir(ctx.home), binds: [fn, ...mounts] },
      files: { passwd: HOST_PASSWD, group: HOST_GROUP },
      what: 'the host runtime',
    };
  }
  const img = NAME_RE.test(m.runtime) ? await ctx.store.getImage(m.runtime) : undefined;
  if (img?.id === imageId) {
    const [passwd, group] = await Promise.all([
      readImageFile([img.rootfs], 'etc/passwd'),
      readImageFile([img.rootfs], 'etc/group'),
    ]);
    return {
      view: { root: img.rootfs, binds: [fn] },
      files: { ...(passwd ? { passwd } : {}), ...(group ? { group } : {}) },
      what: `image ${img.name}`,
    };
  }
  // An OCI image runs on an overlay with a throw-away upper dir: a missing workdir is harmless.
  return {
    view: { root: undefined, binds: [fn] },
    ...(ctx.imageFiles ? { files: ctx.imageFiles } : {}),
    what: `image ${m.runtime}`,
  };
}

const isId = (s: string) => /^\d+$/.test(s);
const listed = (names: string[]) => (names.length > 0 ? names.join(', ') : 'none');

function unknownName(kind: 'user' | 'group', name: string, known: string[], what: string): AgniError {
  const file = kind === 'user' ? '/etc/passwd' : '/etc/group';
  return new AgniError(
    'manifest_invalid',
    `agni.yaml: field \`user\`: no ${kind} named "${name}" in ${what}'s ${file}; it has ${listed(known)}`,
    {
      hint: `use one of those names or a numeric ${kind === 'user' ? 'uid' : 'gid'}`,
      details: { file: 'agni.yaml', field: 'user', known },
    },
  );
}

function checkUser(user: string, files: ImageFiles, what: string): void {
  const [u, g] = user.split(':');
  if (u && !isId(u)) {
    const users = parsePasswd(files.passwd ?? '').map((e) => e.name);
    if (!users.includes(u)) throw unknownName('user', u, users, what);
  }
  if (g && !isId(g)) {
    const groups = parseGroup(files.group ?? '').map((e) => e.name);
    if (!groups.includes(g)) throw unknownName('group', g, groups, what);
  }
  resolveUser(user, files);
}

/** Throws manifest_invalid naming `workdir` or `user` when the runtime cannot honour them. */
export async function checkRuntimeFit(
  m: Manifest,
  imageId: string,
  codeDir: string,
  ctx: RuntimeCheckContext,
): Promise<void> {
  if (m.workdir === undefined && m.user === undefined) return;
  const rt = await runtimeRoot(m, imageId, codeDir, ctx);
  if (m.workdir !== undefined) {
    const problem = await workdirProblem(m.workdir, rt.view);
    if (problem) throw workdirError(m.workdir, problem);
  }
  if (m.user !== undefined && rt.files) checkUser(m.user, rt.files, rt.what);
}
