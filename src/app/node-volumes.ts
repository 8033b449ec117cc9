/**
 * The volumes declared on this node, checked once at start: each host path must be a directory
 * (resolved, so a symlinked declaration is pinned to what it pointed at then). Shared by `agni up`
 * and `agni agent`.
 */
import { realpath, stat } from 'node:fs/promises';
import { AgniError } from '../core/errors.js';
import type { VolumeDecl } from '../core/volumes.js';

export async function checkVolumeDirs(
  decls: readonly VolumeDecl[],
  flag = '--volume',
): Promise<VolumeDecl[]> {
  const out: VolumeDecl[] = [];
  for (const d of decls) {
    const st = await stat(d.hostPath).catch(() => undefined);
    if (!st?.isDirectory())
      throw new AgniError(
        'bad_request',
        `${flag} ${d.name}=${d.hostPath}: ${st ? 'not a directory' : 'no such directory'} on this node`,
        { hint: 'create it (or mount the shared filesystem there) first' },
      );
    out.push({ ...d, hostPath: await realpath(d.hostPath) });
  }
  return out;
}
