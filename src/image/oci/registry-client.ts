/**
 * The OCI distribution API over fetch: manifests, blobs (with Range to resume), uploads and the
 * three ways registries authenticate (none, Basic, Bearer tokens from the challenge's realm).
 */
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { AgniError } from '../../core/errors.js';
import { type Challenge, type Credentials, missingActions, parseChallenge, parseScope } from './auth.js';
import type { BlobSource } from './content-store.js';
import { MANIFEST_ACCEPT } from './media-types.js';
import { isLoopbackHost } from './reference.js';

export interface RegistryClientOptions {
  /** host[:port] the API answers on (registry-1.docker.io for Docker Hub) */
  host: string;
  /** the name users log in with (docker.io), for hints */
  registry?: string;
  insecure?: boolean;
  credentials?: Credentials;
  /** bytes per PATCH when uploading in chunks; monolithic when unset */
  chunkSize?: number;
}

interface RequestOpts {
  headers?: Record<string, string>;
  body?: Buffer | (() => Readable);
  scope: string;
  /** statuses the caller handles itself */
  expect?: number[];
  what: string;
}

interface RegistryErrorBody {
  errors?: { code?: string; message?: string; detail?: unknown }[];
}

interface BearerToken {
  value: string;
  /** ms since the epoch after which it is fetched again before use */
  refreshAt: number;
}

/** The token lifetime the distribution spec assumes when the token service names none (seconds). */
const DEFAULT_TOKEN_SECONDS = 60;

export class RegistryClient {
  readonly base: string;
  readonly registry: string;
  private readonly creds: Credentials | undefined;
  private readonly chunkSize: number | undefined;
  /** one bearer token per scope, reused by every request of that scope until it nears expiry */
  private readonly tokens = new Map<string, BearerToken>();
  /** token fetches under way, so concurrent requests of one scope share one */
  private readonly fetching = new Map<string, Promise<void>>();
  /** realm and service of the registry's last Bearer challenge, to renew tokens before they expire */
  private bearer: Record<string, string> | undefined;
  private basic = false;

  constructor(o: RegistryClientOptions) {
    const scheme = o.insecure || isLoopbackHost(o.host) ? 'http' : 'https';
    this.base = `${scheme}://${o.host}`;
    this.registry = o.registry ?? o.host;
    this.creds = o.credentials;
    this.chunkSize = o.chunkSize;
  }

  /** GET /v2/: proves the registry speaks the API and that the credentials (if any) work. */
  async ping(): Promise<void> {
    const res = await this.request('GET', '/v2/', { scope: '', what: `registry ${this.registry}` });
    await res.body?.cancel();
  }

  async getManifest(
    repo: string,
    ref: string,
  ): Promise<{ bytes: Buffer; contentType: string; digest?: string }> {
    const res = await this.request('GET', `/v2/${repo}/manifests/${ref}`, {
      headers: { accept: MANIFEST_ACCEPT },
      scope: pullScope(repo),
      what: `manifest ${this.registry}/${repo}:${ref}`,
    });
    const bytes = Buffer.from(await res.arrayBuffer());
    return {
      bytes,
      contentType: res.headers.get('content-type') ?? '',
      digest: res.headers.get('docker-content-digest') ?? undefined,
    };
  }

  async getBlob(repo: string, digest: string, offset: number): Promise<BlobSource> {
    const res = await this.request('GET', `/v2/${repo}/blobs/${digest}`, {
      headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
      scope: pullScope(repo),
      what: `blob ${digest} of ${this.registry}/${repo}`,
    });
    if (!res.body) throw new AgniError('registry_error', `blob ${digest}: the registry sent no body`);
    const start = res.status === 206 ? rangeStart(res.headers.get('content-range')) : 0;
    return { body: Readable.fromWeb(res.body as never), offset: start };
  }

  async hasBlob(repo: string, digest: string, scope = pullScope(repo)): Promise<boolean> {
    const res = await this.request('HEAD', `/v2/${repo}/blobs/${digest}`, {
      scope,
      expect: [404],
      what: `blob ${digest} of ${this.registry}/${repo}`,
    });
    return res.status === 200;
  }

  /** Uploads a blob from a file, monolithic or in PATCH chunks; returns false when it was there. */
  async pushBlob(repo: string, digest: string, size: number, file: string): Promise<boolean> {
    const scope = pushScope(repo);
    if (await this.hasBlob(repo, digest, scope)) return false;
    const what = `upload of ${digest} to ${this.registry}/${repo}`;
    const start = await this.request('POST', `/v2/${repo}/blobs/uploads/`, {
      scope,
      what,
      headers: { 'content-length': '0' },
    });
    await start.body?.cancel();
    let location = this.location(start, what);
    if (this.chunkSize && size > this.chunkSize) {
      for (let off = 0; off < size; off += this.chunkSize) {
        const end = Math.min(size, off + this.chunkSize) - 1;
        const res = await this.request('PATCH', location, {
          scope,
          what,
          headers: {
            'content-type': 'application/octet-stream',
            'content-range': `${off}-${end}`,
            'content-length': String(end - off + 1),
          },
          body: () => createReadStream(file, { start: off, end }),
        });
        await res.body?.cancel();
        location = this.location(res, what);
      }
      const done = await this.request('PUT', withDigest(location, digest), {
        scope,
        what,
        headers: { 'content-length': '0' },
      });
      await done.body?.cancel();
    } else {
      const done = await this.request('PUT', withDigest(location, digest), {
        scope,
        what,
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
        body: () => createReadStream(file),
      });
      await done.body?.cancel();
    }
    return true;
  }

  async putManifest(
    repo: string,
    ref: string,
    bytes: Buffer,
    mediaType: string,
  ): Promise<string | undefined> {
    const res = await this.request('PUT', `/v2/${repo}/manifests/${ref}`, {
      scope: pushScope(repo),
      what: `manifest ${this.registry}/${repo}:${ref}`,
      headers: { 'content-type': mediaType },
      body: bytes,
    });
    await res.body?.cancel();
    return res.headers.get('docker-content-digest') ?? undefined;
  }

  private location(res: Response, what: string): string {
    const loc = res.headers.get('location');
    if (!loc) throw new AgniError('registry_error', `${what}: the registry gave no upload Location`);
    return new URL(loc, this.base).toString();
  }

  private authHeader(token: string | undefined): Record<string, string> {
    if (token) return { authorization: `Bearer ${token}` };
    if (this.basic && this.creds) return { authorization: basicHeader(this.creds) };
    return {};
  }

  private async send(
    method: string,
    path: string,
    o: RequestOpts,
    token = this.tokens.get(o.scope)?.value,
  ): Promise<Response> {
    const url = path.startsWith('http') ? path : this.base + path;
    const body =
      o.body === undefined ? undefined : Buffer.isBuffer(o.body) ? o.body : Readable.toWeb(o.body());
    try {
      return await fetch(url, {
        method,
        headers: { ...o.headers, ...this.authHeader(token) },
        body: body as BodyInit | undefined,
        ...(body && !Buffer.isBuffer(body) ? { duplex: 'half' } : {}),
      } as RequestInit);
    } catch (e) {
      throw new AgniError('registry_error', `${o.what}: cannot reach ${this.base}: ${(e as Error).message}`, {
        hint: isLoopbackHost(new URL(this.base).host)
          ? 'is the registry running?'
          : 'check the name and the network',
        cause: e,
      });
    }
  }

  private async request(method: string, path: string, o: RequestOpts): Promise<Response> {
    const held = this.tokens.get(o.scope);
    if (held && this.bearer && Date.now() >= held.refreshAt) await this.fetchToken(o.scope, this.bearer);
    const sent = this.tokens.get(o.scope)?.value;
    let res = await this.send(method, path, o, sent);
    if (res.status === 401) {
      const ch = parseChallenge(res.headers.get('www-authenticate'));
      await res.body?.cancel();
      if (ch && (await this.authenticate(ch, o.scope, sent, o.what))) res = await this.send(method, path, o);
      if (res.status === 401) this.checkBearerRefusal(res, o.scope, o.what);
    }
    if (res.ok || o.expect?.includes(res.status)) return res;
    throw await this.failure(res, o.what);
  }

  /**
   * Answers a challenge; returns whether retrying can help. A token the registry refused as
   * invalid or expired is fetched again (once: `request` retries once); one refused for its
   * scope is not, since the token service would grant the same again.
   */
  private async authenticate(
    ch: Challenge,
    scope: string,
    sent: string | undefined,
    what: string,
  ): Promise<boolean> {
    if (ch.scheme === 'basic') {
      if (!this.creds || this.basic) return false;
      this.basic = true;
      return true;
    }
    if (!ch.params.realm) return false;
    this.bearer = { realm: ch.params.realm, ...(ch.params.service ? { service: ch.params.service } : {}) };
    if (sent && ch.params.error === 'insufficient_scope') throw this.scopeDenied(ch, scope, sent, what);
    // Another request of this scope may have renewed the token meanwhile: then just retry with it.
    if (sent && this.tokens.get(scope)?.value !== sent) return true;
    await this.fetchToken(scope, { ...this.bearer, ...(ch.params.scope ? { scope: ch.params.scope } : {}) });
    return true;
  }

  /** A 401 after a fresh token: say whether the token lacked the scope or was refused outright. */
  private checkBearerRefusal(res: Response, scope: string, what: string): void {
    const ch = parseChallenge(res.headers.get('www-authenticate'));
    const token = this.tokens.get(scope)?.value;
    if (ch?.scheme !== 'bearer' || !token) return;
    if (ch.params.error === 'insufficient_scope') {
      void res.body?.cancel();
      throw this.scopeDenied(ch, scope, token, what);
    }
    if (ch.params.error === 'invalid_token') {
      void res.body?.cancel();
      const from = ch.params.realm ? ` from ${new URL(ch.params.realm).origin}` : '';
      throw new AgniError('unauthorized', `${what}: ${this.registry} refused the token${from} as invalid`, {
        hint: 'the registry does not trust its token service (a key it does not know, or clocks that disagree)',
        details: { registry: this.registry, status: 401 },
      });
    }
  }

  private scopeDenied(ch: Challenge, scope: string, token: string, what: string): AgniError {
    const needed = ch.params.scope ?? scope;
    const parsed = parseScope(needed);
    const missing = missingActions(needed, token);
    const actions = (missing.length ? missing : (parsed?.actions ?? [])).join(', ') || 'access';
    const repo = parsed?.name ?? 'this repository';
    const who = this.creds ? `user "${this.creds.username}"` : 'anonymous access';
    return new AgniError(
      'unauthorized',
      `${what}: ${who} may not ${actions} ${repo} on ${this.registry} (the registry's token service did not grant it)`,
      {
        hint: this.creds
          ? `ask for ${actions} access to ${repo}, or log in as a user who has it: agni login ${this.registry}`
          : `agni login ${this.registry} as a user with ${actions} access to ${repo}`,
        details: { registry: this.registry, repository: repo, missing: actions, status: 401 },
      },
    );
  }

  private fetchToken(scope: string, params: Record<string, string>): Promise<void> {
    let p = this.fetching.get(scope);
    if (!p) {
      p = this.getToken(scope, params).finally(() => this.fetching.delete(scope));
      this.fetching.set(scope, p);
    }
    return p;
  }

  private async getToken(scope: string, params: Record<string, string>): Promise<void> {
    const u = new URL(params.realm!);
    if (params.service) u.searchParams.set('service', params.service);
    const wanted = scope || params.scope;
    if (wanted) u.searchParams.set('scope', wanted);
    let res: Response;
    try {
      res = await fetch(u, { headers: this.creds ? { authorization: basicHeader(this.creds) } : {} });
    } catch (e) {
      throw new AgniError('registry_error', `token service ${u.origin}: ${(e as Error).message}`, {
        cause: e,
      });
    }
    if (!res.ok) throw await this.failure(res, `token for ${this.registry} from ${u.origin}`);
    const j = (await res.json()) as { token?: string; access_token?: string; expires_in?: number };
    const token = j.token ?? j.access_token;
    if (!token) throw new AgniError('registry_error', `token service ${u.origin} answered without a token`);
    const lifetimeMs =
      (typeof j.expires_in === 'number' && j.expires_in > 0 ? j.expires_in : DEFAULT_TOKEN_SECONDS) * 1000;
    // Renew a little early so a request never starts with a token about to lapse.
    this.tokens.set(scope, {
      value: token,
      refreshAt: Date.now() + lifetimeMs - Math.min(5000, lifetimeMs / 10),
    });
  }

  private async failure(res: Response, what: string): Promise<AgniError> {
    const text = method404(res) ? '' : await res.text().catch(() => '');
    let detail = '';
    try {
      const j = JSON.parse(text) as RegistryErrorBody;
      detail = (j.errors ?? []).map((e) => `${e.code ?? 'ERROR'}: ${e.message ?? ''}`).join('; ');
    } catch {
      detail = text.slice(0, 200).trim();
    }
    const tail = detail ? ` (${detail})` : '';
    if (res.status === 401 || res.status === 403) {
      return new AgniError(
        'unauthorized',
        `${what}: ${this.creds ? 'access denied' : 'authentication required'}${tail}`,
        {
          hint: `agni login ${this.registry}`,
          details: { registry: this.registry, status: res.status },
        },
      );
    }
    if (res.status === 404) {
      return new AgniError('image_not_found', `${what}: not found${tail}`, {
        hint: 'check the name and tag',
        details: { status: 404 },
      });
    }
    return new AgniError('registry_error', `${what}: the registry answered ${res.status}${tail}`, {
      details: { status: res.status },
    });
  }
}

function method404(res: Response): boolean {
  return res.body === null;
}

export function pullScope(repo: string): string {
  return `repository:${repo}:pull`;
}

export function pushScope(repo: string): string {
  return `repository:${repo}:pull,push`;
}

function basicHeader(c: Credentials): string {
  return `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
}

function withDigest(location: string, digest: string): string {
  const u = new URL(location);
  u.searchParams.set('digest', digest);
  return u.toString();
}

function rangeStart(contentRange: string | null): number {
  const m = /^bytes\s+(\d+)-/.exec(contentRange ?? '');
  return m ? Number(m[1]) : 0;
}
