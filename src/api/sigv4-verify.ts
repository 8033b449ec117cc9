/**
 * Verifies an AWS Signature Version 4 request the way AWS does: the header is read and its
 * scope and date checked (core/sigv4-header.ts), the secret is looked up by access key id, and
 * the signature is recomputed with the AWS SDK's own signer (@smithy/signature-v4) over the
 * request as it arrived, then compared in constant time.
 */
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import { SignatureV4 } from '@smithy/signature-v4';
import { AgniError } from '../core/errors.js';
import { checkRequestDate, checkScope, parseAuthorization, type SigV4Header } from '../core/sigv4-header.js';

/** node:crypto behind the Hash interface the signer takes (what @smithy/hash-node does) */
export class Sha256 {
  private readonly h;
  constructor(secret?: string | ArrayBuffer | ArrayBufferView) {
    const key = secret === undefined ? undefined : toBuffer(secret);
    this.h = key ? createHmac('sha256', key) : createHash('sha256');
  }
  update(data: string | ArrayBuffer | ArrayBufferView, encoding?: 'utf8' | 'ascii' | 'latin1'): void {
    if (typeof data === 'string') this.h.update(data, encoding ?? 'utf8');
    else this.h.update(toBuffer(data));
  }
  async digest(): Promise<Uint8Array> {
    return new Uint8Array(this.h.digest());
  }
}

function toBuffer(d: string | ArrayBuffer | ArrayBufferView): Buffer {
  if (typeof d === 'string') return Buffer.from(d, 'utf8');
  if (ArrayBuffer.isView(d)) return Buffer.from(d.buffer, d.byteOffset, d.byteLength);
  return Buffer.from(d);
}

export interface ArrivedRequest {
  method: string;
  /** the request target as sent: encoded path and query */
  url: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface VerifyOptions {
  service: string;
  /** the one region credentials must be scoped to; any when undefined */
  region?: string;
  now?: number;
}

function queryOf(raw: string): Record<string, string | string[]> {
  const q: Record<string, string | string[]> = {};
  if (raw === '') return q;
  for (const pair of raw.split('&')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    const decode = (s: string) => {
      try {
        return decodeURIComponent(s);
      } catch {
        throw new AgniError('signature_malformed', 'the query string is not valid percent-encoding');
      }
    };
    const k = decode(eq < 0 ? pair : pair.slice(0, eq));
    const v = eq < 0 ? '' : decode(pair.slice(eq + 1));
    const prev = q[k];
    q[k] = prev === undefined ? v : Array.isArray(prev) ? [...prev, v] : [prev, v];
  }
  return q;
}

function headerValue(v: string | string[] | undefined): string | undefined {
  return Array.isArray(v) ? v.join(',') : v;
}

const SIGNATURE_MISMATCH =
  'The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method.';

interface Prechecked {
  auth: SigV4Header;
  date: Date;
  secret: string;
}

/**
 * Everything that can be checked before the body is read: the header, the date, the scope and
 * the key. A request that fails here is refused without its body being read at all.
 */
export async function precheckSigV4(
  headers: IncomingHttpHeaders,
  secretOf: (accessKeyId: string) => Promise<string | undefined>,
  o: VerifyOptions,
): Promise<Prechecked> {
  const auth = parseAuthorization(headerValue(headers.authorization));
  const date = checkRequestDate(headerValue(headers['x-amz-date']), o.now ?? Date.now());
  checkScope(auth, date, o.service, o.region);
  const secret = await secretOf(auth.accessKeyId);
  if (secret === undefined)
    throw new AgniError('access_key_unknown', 'The security token included in the request is invalid.', {
      hint: 'list the access keys this server knows with `agni token ls`',
    });
  return { auth, date, secret };
}

/**
 * Returns the access key id of a correctly signed request; throws signature_missing,
 * signature_malformed, signature_invalid or access_key_unknown otherwise.
 */
export async function verifySigV4(
  req: ArrivedRequest,
  secretOf: (accessKeyId: string) => Promise<string | undefined>,
  o: VerifyOptions,
): Promise<string> {
  const { auth, date, secret } = await precheckSigV4(req.headers, secretOf, o);
  const claimed = headerValue(req.headers['x-amz-content-sha256']);
  if (claimed !== undefined && claimed !== createHash('sha256').update(req.body).digest('hex'))
    throw new AgniError('signature_invalid', 'x-amz-content-sha256 does not match the request body');

  const q = req.url.indexOf('?');
  const headers: Record<string, string> = {};
  for (const name of auth.signedHeaders) {
    const v = headerValue(req.headers[name]);
    if (v !== undefined) headers[name] = v;
  }
  const signer = new SignatureV4({
    service: auth.service,
    region: auth.region,
    credentials: { accessKeyId: auth.accessKeyId, secretAccessKey: secret },
    sha256: Sha256,
    // What the client sent is what gets hashed: the signer must add no header of its own.
    applyChecksum: false,
    uriEscapePath: true,
  });
  const signed = await signer.sign(
    {
      method: req.method,
      protocol: 'http:',
      hostname: headers.host ?? '',
      path: q < 0 ? req.url : req.url.slice(0, q),
      query: queryOf(q < 0 ? '' : req.url.slice(q + 1)),
      headers,
      body: req.body,
    },
    { signingDate: date, signableHeaders: new Set(auth.signedHeaders) },
  );
  const expected = /Signature=([0-9a-f]{64})/.exec(String(signed.headers.authorization))?.[1] ?? '';
  const a = Buffer.from(expected, 'hex');
  const b = Buffer.from(auth.signature, 'hex');
  if (a.length !== 32 || b.length !== 32 || !timingSafeEqual(a, b))
    throw new AgniError('signature_invalid', SIGNATURE_MISMATCH, {
      hint: 'check AWS_SECRET_ACCESS_KEY: it was printed once by `agni token create NAME --aws`',
    });
  return auth.accessKeyId;
}
