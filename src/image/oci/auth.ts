/**
 * Registry credentials: $AGNI_HOME/auth.json (Docker's config.json format, written 0600) first,
 * then ~/.docker/config.json. credsStore helpers are not run: Agni reads plain `auths` only.
 */
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { registryKeys } from './reference.js';

export interface Credentials {
  username: string;
  password: string;
}

interface ConfigFile {
  auths?: Record<string, { auth?: string; username?: string; password?: string }>;
  credsStore?: string;
  [k: string]: unknown;
}

export interface Challenge {
  scheme: 'basic' | 'bearer';
  params: Record<string, string>;
}

/** Parses `WWW-Authenticate: Bearer realm="…",service="…",scope="…"` (or Basic realm=…). */
export function parseChallenge(header: string | null | undefined): Challenge | undefined {
  if (!header) return undefined;
  const m = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (!m) return undefined;
  const scheme = m[1]!.toLowerCase();
  if (scheme !== 'basic' && scheme !== 'bearer') return undefined;
  const params: Record<string, string> = {};
  const re = /([A-Za-z_][\w-]*)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))/g;
  for (let p = re.exec(m[2]!); p; p = re.exec(m[2]!)) {
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
  }
  return { scheme, params };
}

/** `repository:tools/fn:pull,push` → its parts; a repository name never holds the last colon. */
export function parseScope(scope: string): { type: string; name: string; actions: string[] } | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last === first) return undefined;
  return {
    type: scope.slice(0, first),
    name: scope.slice(first + 1, last),
    actions: scope
      .slice(last + 1)
      .split(',')
      .filter(Boolean),
  };
}

/**
 * The actions of `scope` (what the registry asked for) that the bearer `token` does not grant, read
 * from its JWT `access` claim without verifying it (only the registry can; this is for the message).
 * A token that is not a readable JWT (some registries' are opaque) grants nothing we can see.
 */
export function missingActions(scope: string, token: string | undefined): string[] {
  const want = parseScope(scope);
  if (!want) return [];
  let granted: string[] = [];
  try {
    const claims = JSON.parse(Buffer.from(token?.split('.')[1] ?? '', 'base64url').toString('utf8')) as {
      access?: { type?: string; name?: string; actions?: string[] }[];
    };
    granted = (claims.access ?? [])
      .filter((a) => a.type === want.type && a.name === want.name)
      .flatMap((a) => a.actions ?? []);
  } catch {
    // opaque token
  }
  if (granted.includes('*')) return [];
  return want.actions.filter((a) => !granted.includes(a));
}

export function decodeAuth(auth: string): Credentials | undefined {
  const s = Buffer.from(auth, 'base64').toString('utf8');
  const i = s.indexOf(':');
  if (i <= 0) return undefined;
  return { username: s.slice(0, i), password: s.slice(i + 1) };
}

export function encodeAuth(c: Credentials): string {
  return Buffer.from(`${c.username}:${c.password}`).toString('base64');
}

async function readConfig(path: string): Promise<ConfigFile | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as ConfigFile;
  } catch {
    return undefined;
  }
}

function lookupIn(cfg: ConfigFile | undefined, registry: string): Credentials | undefined {
  for (const key of registryKeys(registry)) {
    const e = cfg?.auths?.[key];
    if (!e) continue;
    if (e.auth) {
      const c = decodeAuth(e.auth);
      if (c) return c;
    }
    if (e.username && e.password) return { username: e.username, password: e.password };
  }
  return undefined;
}

export class CredentialStore {
  readonly file: string;
  private readonly dockerFile: string;

  constructor(
    home: string,
    dockerConfig = join(process.env.DOCKER_CONFIG ?? join(homedir(), '.docker'), 'config.json'),
    private readonly debug: (msg: string) => void = () => {},
  ) {
    this.file = join(home, 'auth.json');
    this.dockerFile = dockerConfig;
  }

  async get(registry: string): Promise<Credentials | undefined> {
    const own = lookupIn(await readConfig(this.file), registry);
    if (own) return own;
    const docker = await readConfig(this.dockerFile);
    const found = lookupIn(docker, registry);
    if (!found && docker?.credsStore) {
      this.debug(
        `${this.dockerFile}: credsStore "${docker.credsStore}" is not used; run agni login ${registry}`,
      );
    }
    return found;
  }

  async set(registry: string, c: Credentials): Promise<void> {
    const cfg = (await readConfig(this.file)) ?? {};
    cfg.auths = { ...(cfg.auths ?? {}), [registry]: { auth: encodeAuth(c) } };
    await this.write(cfg);
  }

  /** Returns whether there was an entry to remove. */
  async remove(registry: string): Promise<boolean> {
    const cfg = await readConfig(this.file);
    let removed = false;
    for (const key of registryKeys(registry)) {
      if (cfg?.auths?.[key]) {
        delete cfg.auths[key];
        removed = true;
      }
    }
    if (removed && cfg) await this.write(cfg);
    return removed;
  }

  private async write(cfg: ConfigFile): Promise<void> {
    await mkdir(dirname(this.file), { recursive: true, mode: 0o700 });
    const tmp = `${this.file}.${process.pid}.tmp`;
    await writeFile(tmp, `${JSON.stringify(cfg, null, 2)}\n`, { mode: 0o600 });
    await chmod(tmp, 0o600);
    await rename(tmp, this.file);
  }
}
