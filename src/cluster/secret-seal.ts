/**
 * How a secret's value crosses NATS from a server to an agent: never in clear. The agent makes an
 * X25519 key pair at start and sends its public key with each request; the server makes a key pair
 * for each answer, derives an AES-256-GCM key with HKDF-SHA256 from the X25519 shared secret, and
 * sends its public key beside the ciphertext. The version the values are for is bound in (HKDF info
 * and GCM additional data), so an answer cannot be replayed as another version's.
 */
import {
  createCipheriv,
  createDecipheriv,
  createPublicKey,
  diffieHellman,
  generateKeyPairSync,
  hkdfSync,
  type KeyObject,
  randomBytes,
} from 'node:crypto';
import { AgniError } from '../core/errors.js';

/** one answer, as it travels (base64 fields) */
export interface SealedSecrets {
  /** the server's public key for this answer (X25519, SPKI DER) */
  epk: string;
  iv: string;
  tag: string;
  data: string;
}

export interface KeyPair {
  /** X25519, SPKI DER, base64: what the agent sends */
  publicKey: string;
  privateKey: KeyObject;
}

export function newKeyPair(): KeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('x25519');
  return { publicKey: publicKey.export({ type: 'spki', format: 'der' }).toString('base64'), privateKey };
}

function publicKeyOf(b64: string, field: string): KeyObject {
  let k: KeyObject;
  try {
    k = createPublicKey({ key: Buffer.from(b64, 'base64'), format: 'der', type: 'spki' });
  } catch {
    throw new AgniError('bad_request', `${field}: not an X25519 public key (SPKI DER, base64)`);
  }
  if (k.asymmetricKeyType !== 'x25519')
    throw new AgniError('bad_request', `${field}: an ${k.asymmetricKeyType} key, expected X25519`);
  return k;
}

/** binds an answer to the version it was asked for */
export const sealContext = (fn: string, version: number): string => `agni secrets v1 ${fn} ${version}`;

function keyFor(privateKey: KeyObject, publicKey: KeyObject, context: string): Buffer {
  const shared = diffieHellman({ privateKey, publicKey });
  return Buffer.from(hkdfSync('sha256', shared, Buffer.alloc(0), context, 32));
}

/** the server's side: `plain` for the holder of `agentKey` only */
export function seal(plain: Buffer, agentKey: string, context: string): SealedSecrets {
  const peer = publicKeyOf(agentKey, 'key');
  const mine = newKeyPair();
  const iv = randomBytes(12);
  const c = createCipheriv('aes-256-gcm', keyFor(mine.privateKey, peer, context), iv);
  c.setAAD(Buffer.from(context));
  const data = Buffer.concat([c.update(plain), c.final()]);
  return {
    epk: mine.publicKey,
    iv: iv.toString('base64'),
    tag: c.getAuthTag().toString('base64'),
    data: data.toString('base64'),
  };
}

/** the agent's side; a tampered answer, or one for another key or version, is refused */
export function open(s: SealedSecrets, privateKey: KeyObject, context: string): Buffer {
  const peer = publicKeyOf(s.epk, 'epk');
  try {
    const d = createDecipheriv('aes-256-gcm', keyFor(privateKey, peer, context), Buffer.from(s.iv, 'base64'));
    d.setAAD(Buffer.from(context));
    d.setAuthTag(Buffer.from(s.tag, 'base64'));
    return Buffer.concat([d.update(Buffer.from(s.data, 'base64')), d.final()]);
  } catch {
    throw new AgniError(
      'internal',
      'the secrets a server sent cannot be opened (tampered, or not for this agent)',
    );
  }
}
