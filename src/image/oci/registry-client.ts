/**
 * The OCI distribution API over fetch: manifests, blobs (with Range to resume), uploads and the
 * three ways registries authenticate (none, Basic, Bearer tokens from the challenge's realm).
 */
import { createReadStream } from 'node:fs';
import { Readable } from 'node:stream';
import { AgniError } from '../../core/errors.js';
import { type Challenge, type Credentials, parseChallenge } from './auth.js';
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

export class RegistryClient {
  readonly base: string;
  readonly registry: string;
  private readonly creds: Credentials | undefined;
  private readonly chunkSize: number | undefined;
  private readonly tokens = new Map<string, string>();
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

  private authHeader(scope: string): Record<string, string> {
    const token = this.tokens.get(scope);
    if (token) return { authorization: `Bearer ${token}` };
    if (this.basic && this.creds) return { authorization: basicHeader(this.creds) };
    return {};
  }

  private async send(method: string, path: string, o: RequestOpts): Promise<Response> {
    const url = path.startsWith('http') ? path : this.base + path;
    const body =
      o.body === undefined ? undefined : Buffer.isBuffer(o.body) ? o.body : Readable.toWeb(o.body());
    try {
      return await fetch(url, {
        method,
        headers: { ...o.headers, ...this.authHeader(o.scope) },
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
    let res = await this.send(method, path, o);
    if (res.status === 401) {
      const ch = parseChallenge(res.headers.get('www-authenticate'));
      await res.body?.cancel();
      if (ch && (await this.authenticate(ch, o.scope))) res = await this.send(method, path, o);
    }
    if (res.ok || o.expect?.includes(res.status)) return res;
    throw await this.failure(res, o.what);
  }

  /** Answers a challenge; returns whether retrying can help. */
  private async authenticate(ch: Challenge, scope: string): Promise<boolean> {
    if (ch.scheme === 'basic') {
      if (!this.creds || this.basic) return false;
      this.basic = true;
      return true;
    }
    const realm = ch.params.realm;
    if (!realm || this.tokens.has(scope)) return false;
    const u = new URL(realm);
    if (ch.params.service) u.searchParams.set('service', ch.params.service);
    const wanted = scope || ch.params.scope;
    if (wanted) u.searchParams.set('scope', wanted);
    let res: Response;
    try {
      res = await fetch(u, { headers: this.creds ? { authorization: basicHeader(this.creds) } : {} });
    } catch (e) {
      throw new AgniError('registry_error', `token service ${u.origin}: ${(e as Error).message}`, {
        cause: e,
      });
    }
    if (!res.ok) throw await this.failure(res, `token for ${this.registry}`);
    const j = (await res.json()) as { token?: string; access_token?: string };
    const token = j.token ?? j.access_token;
    if (!token) throw new AgniError('registry_error', `token service ${u.origin} answered without a token`);
    this.tokens.set(scope, token);
    return true;
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
