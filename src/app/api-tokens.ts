/**
 * Named API tokens with scopes (`agni token create NAME --scope ...`). A token is 256 random bits,
 * shown once at creation; the store keeps only its sha256, which is enough for a secret of that
 * entropy (nothing to brute-force, so no slow hash is needed) and lets a request's token be found
 * by one indexed lookup. The server's own token (AGNI_TOKEN of `agni up`) is an admin token.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { AgniError } from '../core/errors.js';
import { formatScope, parseScope, type Scope } from '../core/scopes.js';
import type { ApiTokenRepository, ApiTokenRow } from '../store/api-token-repo.js';
import { TOKEN_NAME_RE } from './access-keys.js';

/** the prefix says what the string is when it turns up in a file or a secret scanner */
export const TOKEN_PREFIX = 'agni_';
/** the name the server token (AGNI_TOKEN of `agni up`) goes by in answers and logs */
export const SERVER_TOKEN_NAME = '(server token)';

export interface ApiTokenInfo {
  name: string;
  kind: 'bearer';
  scopes: string[];
  created_at: number;
  last_used_at: number | null;
}

export interface CreatedApiToken extends ApiTokenInfo {
  token: string;
}

/** who made a request: a token's name and what it may do */
export interface Principal {
  name: string;
  scopes: Scope[];
}

const TOUCH_EVERY_MS = 60_000;

function hashOf(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

function info(r: ApiTokenRow): ApiTokenInfo {
  return {
    name: r.name,
    kind: 'bearer',
    scopes: r.scopes,
    created_at: r.createdAt,
    last_used_at: r.lastUsedAt,
  };
}

/** constant-time equality of two strings (length differences leak only the length) */
export function sameSecret(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

export class ApiTokens {
  private readonly touched = new Map<string, number>();

  constructor(
    /** absent: no named tokens, only the server token (API tests, embedders) */
    private readonly repo: ApiTokenRepository | undefined,
    /** the server token: an admin token with no row */
    private readonly serverToken?: string,
    private readonly now: () => number = Date.now,
  ) {}

  /** true while requests need a token: a server token is set, or any named token exists */
  async required(): Promise<boolean> {
    return this.serverToken !== undefined || ((await this.repo?.any()) ?? false);
  }

  async create(name: string, scopeTexts: readonly string[]): Promise<CreatedApiToken> {
    if (!TOKEN_NAME_RE.test(name))
      throw new AgniError(
        'bad_request',
        `name: ${JSON.stringify(name)}: expected lowercase letters, digits, _ . and -, starting with a letter or digit, at most 63`,
        { hint: 'e.g. agni token create ci --scope deploy', details: { field: 'name' } },
      );
    if (scopeTexts.length === 0)
      throw new AgniError(
        'bad_request',
        'scopes: give at least one (admin, deploy, invoke or invoke:FN,...)',
        {
          hint: `agni token create ${name} --scope invoke`,
          details: { field: 'scopes' },
        },
      );
    const repo = this.need();
    const scopes = [...new Set(scopeTexts.map((s, i) => formatScope(parseScope(s, `scopes[${i}]`))))];
    const token = TOKEN_PREFIX + randomBytes(32).toString('base64url');
    const createdAt = this.now();
    if (!(await repo.insert({ name, tokenHash: hashOf(token), scopes, createdAt })))
      throw new AgniError('conflict', `a token named ${name} exists`, {
        hint: `revoke it first with \`agni token revoke ${name}\`, or choose another name`,
        details: { field: 'name' },
      });
    return { name, kind: 'bearer', scopes, created_at: createdAt, last_used_at: null, token };
  }

  async list(): Promise<ApiTokenInfo[]> {
    return ((await this.repo?.list()) ?? []).map(info);
  }

  /** true when a token of that name was removed */
  async revoke(name: string): Promise<boolean> {
    return (await this.repo?.remove(name)) ?? false;
  }

  /** The principal `token` stands for, or undefined when it is no token of this server. */
  async verify(token: string): Promise<Principal | undefined> {
    if (this.serverToken !== undefined && sameSecret(token, this.serverToken))
      return { name: SERVER_TOKEN_NAME, scopes: [{ kind: 'admin' }] };
    if (!token.startsWith(TOKEN_PREFIX)) return undefined;
    const hash = hashOf(token);
    const row = await this.repo?.byHash(hash);
    // The lookup compares hashes, not tokens; compare again in constant time all the same.
    if (!row || !sameSecret(row.tokenHash, hash)) return undefined;
    void this.used(row.name).catch(() => {});
    return { name: row.name, scopes: row.scopes.map((s) => parseScope(s)) };
  }

  private need(): ApiTokenRepository {
    if (!this.repo) throw new AgniError('backend_unavailable', 'this server keeps no named tokens');
    return this.repo;
  }

  private async used(name: string): Promise<void> {
    const now = this.now();
    if (now - (this.touched.get(name) ?? 0) < TOUCH_EVERY_MS) return;
    this.touched.set(name, now);
    await this.repo?.touch(name, now);
  }
}
