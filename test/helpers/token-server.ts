/**
 * A real token server for tests (the Docker registry token protocol): GET /token?service=…&scope=…
 * checks Basic credentials and answers a JWT signed RS256 with a key whose self-signed certificate
 * (made by the `openssl` CLI) is the registry's rootcertbundle; the token's `x5c` header carries that
 * certificate, which is how distribution 2.8 finds the key. Every request is logged for assertions.
 */
import { execFileSync } from 'node:child_process';
import { createPrivateKey, generateKeyPairSync, randomUUID, sign, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseScope } from '../../src/image/oci/auth.js';

/** `repo` is a repository name, or a prefix ending in `/*` (tools/* matches tools/a and tools/a/b). */
export interface Grant {
  repo: string;
  actions: string[];
}

export interface TokenServerOptions {
  users: Record<string, { password: string; grants: Grant[] }>;
  /** what a request without credentials may do; absent: it gets 401 */
  anonymous?: Grant[];
  /** token lifetime in seconds (default 300) */
  expiresIn?: number;
  /**
   * Sign the next N tokens with a key the registry does not trust (as after a key rotation), so the
   * registry refuses them as invalid_token; counts down as tokens are issued.
   */
  untrustedNext?: number;
}

export interface TokenRequest {
  /** the Basic user, null when anonymous */
  user: string | null;
  scopes: string[];
  service: string | null;
  status: number;
}

/** What docker-registry's `auth: token:` section needs. */
export interface RegistryTokenAuth {
  realm: string;
  service: string;
  issuer: string;
  rootCertBundle: string;
}

export interface TokenServer extends RegistryTokenAuth {
  /** the options it runs with; tests may change them between requests */
  options: TokenServerOptions;
  requests: TokenRequest[];
  close(): Promise<void>;
}

const SERVICE = 'agni-test-registry';
const ISSUER = 'agni-test-token-issuer';

function b64url(b: Buffer | string): string {
  return Buffer.from(b).toString('base64url');
}

function allowed(grants: Grant[], repo: string): Set<string> {
  const out = new Set<string>();
  for (const g of grants) {
    const hit = g.repo.endsWith('/*') ? repo.startsWith(g.repo.slice(0, -1)) : g.repo === repo;
    if (hit) for (const a of g.actions) out.add(a);
  }
  return out;
}

function basicUser(header: string | undefined): { user: string; password: string } | undefined {
  const m = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!m) return undefined;
  const s = Buffer.from(m[1]!, 'base64').toString('utf8');
  const i = s.indexOf(':');
  return i > 0 ? { user: s.slice(0, i), password: s.slice(i + 1) } : undefined;
}

export async function startTokenServer(o: TokenServerOptions): Promise<TokenServer> {
  const dir = mkdtempSync(join(tmpdir(), 'agni-token-'));
  const keyFile = join(dir, 'key.pem');
  const certFile = join(dir, 'cert.pem');
  const subject = `/CN=${ISSUER}`;
  const opensslArgs = ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', subject];
  execFileSync('openssl', [...opensslArgs, '-keyout', keyFile, '-out', certFile], { stdio: 'ignore' });
  const key = createPrivateKey(readFileSync(keyFile));
  const x5c = [new X509Certificate(readFileSync(certFile)).raw.toString('base64')];
  const requests: TokenRequest[] = [];
  const untrusted = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const scopes = url.searchParams.getAll('scope').flatMap((s) => s.split(' ').filter(Boolean));
    const log: TokenRequest = { user: null, scopes, service: url.searchParams.get('service'), status: 200 };
    requests.push(log);
    const answer = (status: number, body: unknown) => {
      log.status = status;
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
    };
    if (req.method !== 'GET' || url.pathname !== '/token') {
      answer(404, { errors: [{ code: 'NOT_FOUND', message: 'no such endpoint' }] });
      return;
    }
    let grants: Grant[];
    const basic = basicUser(req.headers.authorization);
    if (basic) {
      log.user = basic.user;
      const u = o.users[basic.user];
      if (!u || u.password !== basic.password) {
        answer(401, { errors: [{ code: 'UNAUTHORIZED', message: 'invalid username or password' }] });
        return;
      }
      grants = u.grants;
    } else if (o.anonymous) {
      grants = o.anonymous;
    } else {
      answer(401, { errors: [{ code: 'UNAUTHORIZED', message: 'credentials required' }] });
      return;
    }
    // Grant what was asked and is allowed, nothing more: the registry checks each request against it.
    const access = [];
    for (const s of scopes) {
      const p = parseScope(s);
      if (p?.type !== 'repository') continue;
      const may = allowed(grants, p.name);
      const actions = p.actions.filter((a) => may.has(a));
      if (actions.length) access.push({ type: p.type, name: p.name, actions });
    }
    const now = Math.floor(Date.now() / 1000);
    const expiresIn = o.expiresIn ?? 300;
    const header = { typ: 'JWT', alg: 'RS256', x5c };
    const claims = {
      iss: ISSUER,
      sub: basic?.user ?? '',
      aud: url.searchParams.get('service') ?? SERVICE,
      exp: now + expiresIn,
      nbf: now - 1,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    let signer = key;
    if (o.untrustedNext) {
      o.untrustedNext--;
      signer = untrusted;
    }
    const token = `${signingInput}.${b64url(sign('sha256', Buffer.from(signingInput), signer))}`;
    answer(200, { token, access_token: token, expires_in: expiresIn, issued_at: new Date().toISOString() });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    realm: `http://127.0.0.1:${port}/token`,
    service: SERVICE,
    issuer: ISSUER,
    rootCertBundle: certFile,
    options: o,
    requests,
    close: () =>
      new Promise<void>((r) => {
        server.closeAllConnections();
        server.close(() => {
          rmSync(dir, { recursive: true, force: true });
          r();
        });
      }),
  };
}
