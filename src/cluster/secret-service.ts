/**
 * Secrets for agents, which have no database: an agent asks on `agni.cluster.secrets` for the
 * secrets one deployed version names; one server of the queue group answers with exactly those
 * (read from its store; a name the manifest does not list is never sent), sealed for the agent's
 * key (src/cluster/secret-seal.ts). Names, versions and sizes are logged; values never.
 * Anyone who may connect to NATS as an agent can ask for a deployed version's secrets: the NATS
 * link is the trust boundary (docs/security.md).
 */
import type { NatsConnection, Subscription } from 'nats';
import type { Logger } from 'pino';
import type { SecretSource } from '../agent/agent.js';
import { AgniError, ERROR_STATUS, type ErrorCode } from '../core/errors.js';
import type { SandboxSecret } from '../sandbox/backend.js';
import type { Store } from '../store/store.js';
import { type KeyPair, newKeyPair, open, type SealedSecrets, seal, sealContext } from './secret-seal.js';
import { SECRETS_SUBJECT } from './subjects.js';

export interface SecretsRequest {
  function: string;
  version: number;
  /** the agent's X25519 public key (SPKI DER, base64) */
  key: string;
}

interface WireError {
  code: string;
  message: string;
  hint?: string;
}

export type SecretsReply = { sealed: SealedSecrets } | { error: WireError };

/** what is sealed: the version's secrets with their values in base64 */
type Plain = { name: string; value: string; env?: string }[];

const QUEUE = 'agni-secrets';
const enc = new TextEncoder();
const dec = new TextDecoder();

function parseRequest(data: Uint8Array): SecretsRequest {
  let r: Partial<SecretsRequest>;
  try {
    r = JSON.parse(dec.decode(data)) as Partial<SecretsRequest>;
  } catch {
    throw new AgniError('bad_request', 'a secrets request must be JSON');
  }
  if (typeof r?.function !== 'string' || !r.function)
    throw new AgniError('bad_request', 'function: expected a function name');
  if (typeof r.version !== 'number' || !Number.isInteger(r.version) || r.version < 1)
    throw new AgniError('bad_request', 'version: expected a positive integer');
  if (typeof r.key !== 'string') throw new AgniError('bad_request', 'key: expected a public key');
  return { function: r.function, version: r.version, key: r.key };
}

const toWire = (e: unknown): WireError =>
  e instanceof AgniError
    ? { code: e.code, message: e.message, ...(e.hint ? { hint: e.hint } : {}) }
    : { code: 'internal', message: e instanceof Error ? e.message : String(e) };

export interface SecretServiceOptions {
  /** where versions (and their manifests) are read */
  store: Pick<Store, 'getVersion'>;
  /** the values, from this server's sealed store */
  values: SecretSource;
  logger: Logger;
}

/** The server's side: answers until close(). */
export function serveSecrets(nc: NatsConnection, o: SecretServiceOptions): { close(): void } {
  const answer = async (data: Uint8Array): Promise<SecretsReply> => {
    const r = parseRequest(data);
    const what = `${r.function} v${r.version}`;
    o.logger.debug({ fn: r.function, version: r.version }, 'secrets: an agent asks');
    const v = await o.store.getVersion(r.function, r.version);
    if (!v)
      throw new AgniError('version_not_found', `${what} is not deployed`, {
        hint: 'an agent asks only for versions a server placed on it',
      });
    const refs = v.manifest.secrets ?? [];
    const values = await o.values(refs, what, { function: r.function, version: r.version });
    const plain: Plain = values.map((s) => ({
      name: s.name,
      value: s.value.toString('base64'),
      ...(s.env ? { env: s.env } : {}),
    }));
    const sealed = seal(Buffer.from(JSON.stringify(plain)), r.key, sealContext(r.function, r.version));
    o.logger.debug(
      { fn: r.function, version: r.version, secrets: refs.map((x) => x.name) },
      'secrets: sent sealed',
    );
    return { sealed };
  };
  const sub: Subscription = nc.subscribe(SECRETS_SUBJECT, {
    queue: QUEUE,
    callback: (err, msg) => {
      if (err) {
        o.logger.warn({ err: err.message }, 'secrets: subscription ended');
        return;
      }
      answer(msg.data)
        .catch((e): SecretsReply => {
          o.logger.debug({ err: toWire(e) }, 'secrets: refused');
          return { error: toWire(e) };
        })
        .then((reply) => msg.respond(enc.encode(JSON.stringify(reply))))
        .catch((e) => o.logger.warn({ err: (e as Error).message }, 'secrets: could not answer'));
    },
  });
  return { close: () => sub.unsubscribe() };
}

/** The agent's side: a SecretSource over the servers, with a key pair made when this agent started. */
export class NatsSecretSource {
  private readonly keys: KeyPair = newKeyPair();

  constructor(
    private readonly nc: NatsConnection,
    private readonly logger: Logger,
    private readonly timeoutMs = 10_000,
  ) {}

  readonly source: SecretSource = async (refs, what, of) => {
    const req: SecretsRequest = { function: of.function, version: of.version, key: this.keys.publicKey };
    this.logger.debug({ fn: of.function, version: of.version }, 'secrets: asking the servers');
    let data: Uint8Array;
    try {
      data = (
        await this.nc.request(SECRETS_SUBJECT, enc.encode(JSON.stringify(req)), { timeout: this.timeoutMs })
      ).data;
    } catch (e) {
      this.logger.debug(
        { fn: of.function, version: of.version, err: (e as Error).message },
        'secrets: ask failed',
      );
      throw new AgniError('backend_unavailable', `${what} needs secrets, and no server answered for them`, {
        hint: 'is an agni server connected to this NATS?',
      });
    }
    const reply = JSON.parse(dec.decode(data)) as SecretsReply;
    if ('error' in reply) {
      const e = reply.error;
      throw new AgniError(e.code in ERROR_STATUS ? (e.code as ErrorCode) : 'internal', e.message, {
        ...(e.hint ? { hint: e.hint } : {}),
      });
    }
    const plain = JSON.parse(
      open(reply.sealed, this.keys.privateKey, sealContext(of.function, of.version)).toString(),
    ) as Plain;
    this.logger.debug(
      { fn: of.function, version: of.version, secrets: plain.map((s) => s.name) },
      'secrets: received',
    );
    const byName = new Map(plain.map((s) => [s.name, s]));
    return refs.map((ref): SandboxSecret => {
      const s = byName.get(ref.name);
      if (!s)
        throw new AgniError(
          'manifest_invalid',
          `${what} needs secret ${ref.name}, which the server did not send`,
        );
      return { name: ref.name, value: Buffer.from(s.value, 'base64'), ...(ref.env ? { env: ref.env } : {}) };
    });
  };
}
