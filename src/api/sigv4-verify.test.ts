/**
 * The verifier against requests signed by the AWS SDK's own signer, as a client signs them:
 * what is signed must verify, and any change to what was signed must not.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SignatureV4 } from '@smithy/signature-v4';
import { isAgniError } from '../core/errors.js';
import { type ArrivedRequest, Sha256, verifySigV4 } from './sigv4-verify.js';

const KEY = 'AGNITESTKEY000000000';
const SECRET = 'c2VjcmV0LXNlY3JldC1zZWNyZXQtc2VjcmV0LXNl';
const NOW = Date.UTC(2026, 0, 2, 3, 4, 5);
const secretOf = async (id: string) => (id === KEY ? SECRET : undefined);

/** a request as the SDK sends it: path already percent-encoded (an ARN's colons as %3A) */
async function signed(
  o: {
    path?: string;
    query?: Record<string, string>;
    body?: string;
    secret?: string;
    at?: number;
    region?: string;
    service?: string;
  } = {},
): Promise<ArrivedRequest> {
  const path =
    o.path ??
    '/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Awc/invocations';
  const body = o.body ?? '{"a": 1}';
  const signer = new SignatureV4({
    service: o.service ?? 'lambda',
    region: o.region ?? 'us-east-1',
    credentials: { accessKeyId: KEY, secretAccessKey: o.secret ?? SECRET },
    sha256: Sha256,
  });
  const r = await signer.sign(
    {
      method: 'POST',
      protocol: 'http:',
      hostname: '127.0.0.1',
      port: 8780,
      path,
      query: o.query ?? {},
      headers: {
        host: '127.0.0.1:8780',
        'content-type': 'application/json',
        'x-amz-invocation-type': 'RequestResponse',
        'user-agent': 'test',
      },
      body,
    },
    { signingDate: new Date(o.at ?? NOW) },
  );
  const qs = new URLSearchParams(o.query ?? {}).toString().replaceAll('+', '%20');
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.headers)) headers[k.toLowerCase()] = String(v);
  return { method: 'POST', url: qs ? `${path}?${qs}` : path, headers, body: Buffer.from(body) };
}

const refused = (code: string) => (e: unknown) => isAgniError(e) && e.code === code;

test('a request signed by the SDK signer verifies, with its query and encoded path', async () => {
  assert.equal(await verifySigV4(await signed(), secretOf, { service: 'lambda', now: NOW }), KEY);
  const q = await signed({ query: { Qualifier: '$LATEST', x: 'a b/c' } });
  assert.equal(await verifySigV4(q, secretOf, { service: 'lambda', now: NOW }), KEY);
  assert.equal(
    await verifySigV4(await signed(), secretOf, { service: 'lambda', region: 'us-east-1', now: NOW }),
    KEY,
  );
});

test('anything signed that changes on the way is refused as a signature mismatch', async () => {
  const o = { service: 'lambda', now: NOW };
  const body = await signed();
  body.body = Buffer.from('{"a": 2}');
  await assert.rejects(verifySigV4(body, secretOf, o), refused('signature_invalid'));
  const path = await signed();
  path.url = path.url.replace('wc', 'wd');
  await assert.rejects(verifySigV4(path, secretOf, o), refused('signature_invalid'));
  const header = await signed();
  header.headers['x-amz-invocation-type'] = 'Event';
  await assert.rejects(verifySigV4(header, secretOf, o), refused('signature_invalid'));
  const query = await signed({ query: { Qualifier: '1' } });
  query.url = query.url.replace('Qualifier=1', 'Qualifier=2');
  await assert.rejects(verifySigV4(query, secretOf, o), refused('signature_invalid'));
  await assert.rejects(
    verifySigV4(await signed({ secret: `${SECRET}x` }), secretOf, o),
    refused('signature_invalid'),
  );
});

test('an unsigned payload hash that does not match the body is refused', async () => {
  const r = await signed();
  r.headers['x-amz-content-sha256'] = 'UNSIGNED-PAYLOAD';
  await assert.rejects(
    verifySigV4(r, secretOf, { service: 'lambda', now: NOW }),
    refused('signature_invalid'),
  );
});

test('stale or future dates, another service or region, and unknown keys are refused', async () => {
  const o = { service: 'lambda', now: NOW };
  await assert.rejects(
    verifySigV4(await signed({ at: NOW - 16 * 60_000 }), secretOf, o),
    refused('signature_invalid'),
  );
  await assert.rejects(
    verifySigV4(await signed({ at: NOW + 16 * 60_000 }), secretOf, o),
    refused('signature_invalid'),
  );
  assert.equal(await verifySigV4(await signed({ at: NOW - 14 * 60_000 }), secretOf, o), KEY);
  await assert.rejects(
    verifySigV4(await signed({ service: 's3' }), secretOf, o),
    refused('signature_invalid'),
  );
  await assert.rejects(
    verifySigV4(await signed({ region: 'eu-west-1' }), secretOf, { ...o, region: 'us-east-1' }),
    refused('signature_invalid'),
  );
  await assert.rejects(
    verifySigV4(await signed(), async () => undefined, o),
    refused('access_key_unknown'),
  );
});

test('a missing or malformed Authorization header is refused before any key is looked up', async () => {
  const o = { service: 'lambda', now: NOW };
  const none = await signed();
  delete none.headers.authorization;
  await assert.rejects(verifySigV4(none, secretOf, o), refused('signature_missing'));
  const bearer = await signed();
  bearer.headers.authorization = 'Bearer s3cret';
  await assert.rejects(verifySigV4(bearer, secretOf, o), refused('signature_missing'));
  const partial = await signed();
  partial.headers.authorization = 'AWS4-HMAC-SHA256 Credential=x/20260102/us-east-1/lambda/aws4_request';
  await assert.rejects(verifySigV4(partial, secretOf, o), refused('signature_malformed'));
});
