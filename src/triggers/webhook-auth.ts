/**
 * Who may call a webhook that has a secret: a caller that sends the secret itself
 * (`X-Agni-Secret`) or signs the body with it the way GitHub does (`X-Hub-Signature-256:
 * sha256=<hex HMAC-SHA256>`). Comparisons are constant-time.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export const SECRET_HEADER = 'x-agni-secret';
export const SIGNATURE_HEADER = 'x-hub-signature-256';

export function signBody(secret: string, body: Buffer): string {
  return `sha256=${createHmac('sha256', secret).update(body).digest('hex')}`;
}

function sameSecret(given: string, secret: string): boolean {
  // Hashing first gives both sides one length, so the time taken says nothing about the secret.
  const a = createHash('sha256').update(given).digest();
  const b = createHash('sha256').update(secret).digest();
  return timingSafeEqual(a, b);
}

function sameSignature(header: string, secret: string, body: Buffer): boolean {
  const m = /^sha256=([0-9a-fA-F]{64})$/.exec(header.trim());
  if (!m) return false;
  const want = createHmac('sha256', secret).update(body).digest();
  return timingSafeEqual(Buffer.from(m[1]!, 'hex'), want);
}

function one(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v[0] : v;
}

/** undefined when the caller may call, else why not (never containing the secret) */
export function webhookDenied(
  secret: string | undefined,
  headers: Record<string, string | string[] | undefined>,
  body: Buffer,
): string | undefined {
  if (secret === undefined) return undefined;
  const given = one(headers[SECRET_HEADER]);
  const signature = one(headers[SIGNATURE_HEADER]);
  if (given === undefined && signature === undefined) {
    return 'this webhook needs its secret: send it in the X-Agni-Secret header, or sign the body in X-Hub-Signature-256 (sha256=<hex HMAC-SHA256>)';
  }
  if (given !== undefined && sameSecret(given, secret)) return undefined;
  if (signature !== undefined && sameSignature(signature, secret, body)) return undefined;
  return signature !== undefined && given === undefined
    ? 'X-Hub-Signature-256 does not match the body signed with the webhook secret'
    : 'the webhook secret does not match';
}
