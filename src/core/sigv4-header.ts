/**
 * Reading an AWS Signature Version 4 request before its signature is recomputed: the
 * Authorization header's credential scope, signed headers and signature, and the X-Amz-Date
 * clock check. Pure; the recomputation itself is the SDK's own signer (api/sigv4-verify.ts).
 */
import { AgniError } from './errors.js';

export const SIGV4_ALGORITHM = 'AWS4-HMAC-SHA256';
/** how far X-Amz-Date may be from the server's clock, either way (AWS's 15 minutes) */
export const MAX_CLOCK_SKEW_MS = 15 * 60 * 1000;

export interface SigV4Header {
  accessKeyId: string;
  /** the credential scope: YYYYMMDD, region, service */
  scopeDate: string;
  region: string;
  service: string;
  /** lowercase header names, in the order the client listed them */
  signedHeaders: string[];
  /** 64 lowercase hex digits */
  signature: string;
}

function malformed(message: string): AgniError {
  return new AgniError('signature_malformed', message, {
    hint: 'sign requests with an AWS SDK or the aws CLI (Signature Version 4)',
  });
}

export function parseAuthorization(header: string | undefined): SigV4Header {
  if (!header) {
    throw new AgniError('signature_missing', 'Missing Authentication Token', {
      hint: 'sign the request with an access key from `agni token create NAME --aws` (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY)',
    });
  }
  const space = header.indexOf(' ');
  const algorithm = space < 0 ? header : header.slice(0, space);
  if (algorithm !== SIGV4_ALGORITHM) {
    throw new AgniError(
      'signature_missing',
      `Authorization header: expected ${SIGV4_ALGORITHM} (AWS Signature Version 4), got ${JSON.stringify(algorithm.slice(0, 40))}`,
      { hint: 'this route takes AWS-signed requests while access keys exist (`agni token ls`)' },
    );
  }
  const fields = new Map<string, string>();
  for (const part of header.slice(space + 1).split(',')) {
    const eq = part.indexOf('=');
    if (eq > 0) fields.set(part.slice(0, eq).trim(), part.slice(eq + 1).trim());
  }
  for (const f of ['Credential', 'SignedHeaders', 'Signature'])
    if (!fields.get(f)) throw malformed(`Authorization header requires '${f}' parameter.`);
  const credential = fields.get('Credential')!.split('/');
  if (credential.length !== 5 || credential[4] !== 'aws4_request' || !/^\d{8}$/.test(credential[1]!))
    throw malformed(
      'Authorization header: Credential: expected ACCESS_KEY_ID/YYYYMMDD/REGION/SERVICE/aws4_request',
    );
  const signature = fields.get('Signature')!;
  if (!/^[0-9a-f]{64}$/.test(signature))
    throw malformed('Authorization header: Signature: expected 64 hex digits');
  const signedHeaders = fields.get('SignedHeaders')!.split(';');
  if (signedHeaders.some((h) => !/^[a-z0-9!#$%&'*+.^_`|~-]+$/.test(h)))
    throw malformed('Authorization header: SignedHeaders: expected lowercase header names separated by ;');
  return {
    accessKeyId: credential[0]!,
    scopeDate: credential[1]!,
    region: credential[2]!,
    service: credential[3]!,
    signedHeaders,
    signature,
  };
}

function invalid(message: string): AgniError {
  return new AgniError('signature_invalid', message);
}

/** X-Amz-Date (YYYYMMDD'T'HHMMSS'Z') as a Date; refused when absent, malformed or off by more than 15 minutes. */
export function checkRequestDate(amzDate: string | undefined, now: number): Date {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate ?? '');
  if (!m) throw malformed('X-Amz-Date: expected a date such as 20240101T120000Z');
  const at = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
  if (Number.isNaN(at)) throw malformed('X-Amz-Date: not a valid date');
  if (Math.abs(at - now) > MAX_CLOCK_SKEW_MS) {
    throw invalid(
      `Signature expired: ${amzDate} is more than 15 minutes from the server's time ${new Date(now).toISOString()}`,
    );
  }
  return new Date(at);
}

/** The scope must name this service, the request's own date and (when the operator set one) the region. */
export function checkScope(h: SigV4Header, date: Date, service: string, region: string | undefined): void {
  if (h.service !== service) throw invalid(`Credential should be scoped to correct service: '${service}'.`);
  if (region !== undefined && h.region !== region)
    throw invalid(`Credential should be scoped to a valid region: '${region}'.`);
  const day = date.toISOString().slice(0, 10).replaceAll('-', '');
  if (h.scopeDate !== day)
    throw invalid(
      `Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '${h.scopeDate}' != '${day}'.`,
    );
  for (const required of ['host', 'x-amz-date'])
    if (!h.signedHeaders.includes(required)) throw invalid(`SignedHeaders must include ${required}`);
}
