/**
 * A runc sandbox's /run/secrets: one directory per sandbox under /dev/shm (a tmpfs: the values never
 * reach the host's disk), files mode 0400 and the directory 0500, owned by the sandbox's user,
 * bind-mounted read-only at /run/secrets. Removed with the sandbox, and by recover() after a crash.
 *
 * A secret with `env` is also exported as that variable by a tiny wrapper (the host's static busybox,
 * as the prewarm gate) that reads the file when the process starts and then execs the command: the
 * value is never in the bundle's config.json, which is on disk.
 */
import { createHash } from 'node:crypto';
import { chmod, chown, mkdir, readdir, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { SECRETS_DIR } from '../core/secret-refs.js';
import type { SandboxSecret, SandboxSpec } from './backend.js';
import { EXEC_ARGS_SCRIPT, GATE_PATH, HOST_BUSYBOX } from './runc-prepared.js';

export const SHM = '/dev/shm';

/** this home's directory of sandbox secret dirs (one Agni home never touches another's) */
export function secretsRoot(home: string, shm = SHM): string {
  return join(shm, `agni-secrets-${createHash('sha256').update(home).digest('hex').slice(0, 12)}`);
}

/** Writes `secrets` for sandbox `id`; returns the directory to bind at /run/secrets. */
export async function writeSecretFiles(
  root: string,
  id: string,
  secrets: readonly SandboxSecret[],
  owner: { uid: number; gid: number },
): Promise<string> {
  await mkdir(root, { recursive: true, mode: 0o700 });
  const dir = join(root, id);
  await mkdir(dir, { mode: 0o700 });
  for (const s of secrets) {
    const file = join(dir, s.name);
    await writeFile(file, s.value, { mode: 0o400, flag: 'wx' });
    await chown(file, owner.uid, owner.gid);
  }
  await chown(dir, owner.uid, owner.gid);
  await chmod(dir, 0o500);
  return dir;
}

export async function removeSecretFiles(root: string, id: string): Promise<void> {
  await rm(join(root, id), { recursive: true, force: true }).catch(() => {});
}

/** Removes the secret dirs of sandboxes not in `live` (what a crash left); returns how many. */
export async function removeLeftoverSecretFiles(
  root: string,
  live: (id: string) => boolean,
): Promise<number> {
  let n = 0;
  for (const id of await readdir(root).catch(() => [] as string[])) {
    if (live(id)) continue;
    await removeSecretFiles(root, id);
    n++;
  }
  return n;
}

/** busybox ash: exports each env-form secret from its file, then runs the command like the gate does */
export function secretEnvScript(secrets: readonly SandboxSecret[]): string {
  const lines = ['unset SHLVL PWD OLDPWD'];
  for (const s of secrets) {
    if (!s.env) continue;
    // Names are checked (src/core/secret-refs.ts): no quoting needed. $(...) drops trailing newlines.
    lines.push(`${s.env}=$(${GATE_PATH} cat ${SECRETS_DIR}/${s.name}) || exit 126`, `export ${s.env}`);
  }
  return `${lines.join('\n')}\n${EXEC_ARGS_SCRIPT}`;
}

/** `spec` with /run/secrets bound from `dir` and, when a secret has `env`, the env wrapper around its args. */
export function withSecrets(spec: SandboxSpec, dir: string, busybox = HOST_BUSYBOX): SandboxSpec {
  const secrets = spec.secrets ?? [];
  const mounts = [...(spec.extraMounts ?? []), { source: dir, destination: SECRETS_DIR }];
  if (!secrets.some((s) => s.env)) return { ...spec, extraMounts: mounts };
  if (!mounts.some((m) => m.destination === GATE_PATH))
    mounts.push({ source: busybox, destination: GATE_PATH });
  return {
    ...spec,
    args: [GATE_PATH, 'sh', '-c', secretEnvScript(secrets), 'agni-secrets', ...spec.args],
    extraMounts: mounts,
  };
}
