/**
 * The AWS Lambda Runtime API as Agni serves it inside a `protocol: lambda` sandbox (docs/lambda.md),
 * pure: the environment a runtime expects, the routes, the event headers and the error documents.
 */

import { AgniError } from './errors.js';

/** 127.0.0.1:PORT inside the sandbox is the Runtime API (the port AWS's own emulator uses). */
export const RUNTIME_API_PORT = 9001;
export const RUNTIME_API = `127.0.0.1:${RUNTIME_API_PORT}`;
/** a buffered response's limit (Lambda's synchronous payload quota) */
export const MAX_RESPONSE_BYTES = 6_291_556;
/** an error document's limit: it is read whole */
export const MAX_ERROR_BYTES = 1024 * 1024;
/** account id in function ARNs: there is no AWS account behind Agni */
export const ACCOUNT_ID = '000000000000';
export const DEFAULT_REGION = 'us-east-1';
const PREFIX = '/2018-06-01/runtime';
const REGION_RE = /^[a-z]{2}(-[a-z0-9]+){1,3}$/;

/** The operator's region (`agni up --lambda-region`), checked; the default when unset. */
export function regionOf(value: string | undefined): string {
  if (value === undefined || value === '') return DEFAULT_REGION;
  if (!REGION_RE.test(value))
    throw new AgniError(
      'bad_request',
      `--lambda-region: expected a region name like us-east-1 (got ${JSON.stringify(value)})`,
      {
        hint: 'agni up --lambda-region eu-west-1, or AGNI_LAMBDA_REGION=eu-west-1',
      },
    );
  return value;
}

export interface LambdaEnvInput {
  fn: string;
  version: number;
  memoryBytes: number;
  handler?: string;
  region: string;
  /** the worker's sandbox id: its log stream */
  worker: string;
  now: number;
}

/** What Lambda sets for a custom runtime, with Agni's values (docs/lambda.md lists them). */
export function lambdaEnv(i: LambdaEnvInput): Record<string, string> {
  const day = new Date(i.now).toISOString().slice(0, 10).replaceAll('-', '/');
  return {
    AWS_LAMBDA_RUNTIME_API: RUNTIME_API,
    AWS_LAMBDA_FUNCTION_NAME: i.fn,
    AWS_LAMBDA_FUNCTION_VERSION: String(i.version),
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(Math.floor(i.memoryBytes / (1024 * 1024))),
    AWS_LAMBDA_LOG_GROUP_NAME: `/aws/lambda/${i.fn}`,
    AWS_LAMBDA_LOG_STREAM_NAME: `${day}/[${i.version}]${i.worker}`,
    AWS_LAMBDA_INITIALIZATION_TYPE: 'on-demand',
    AWS_REGION: i.region,
    AWS_DEFAULT_REGION: i.region,
    _HANDLER: i.handler ?? '',
    LAMBDA_TASK_ROOT: '/fn',
    LAMBDA_RUNTIME_DIR: '/var/runtime',
    TZ: ':UTC',
  };
}

export function functionArn(region: string, fn: string): string {
  return `arn:aws:lambda:${region}:${ACCOUNT_ID}:function:${fn}`;
}

/** An X-Ray style trace header: `Root=1-<8 hex seconds>-<24 hex>;Parent=<16 hex>;Sampled=0`. */
export function traceId(nowMs: number, random: Buffer): string {
  const secs = Math.floor(nowMs / 1000)
    .toString(16)
    .padStart(8, '0');
  const hex = random.toString('hex').padEnd(40, '0');
  return `Root=1-${secs}-${hex.slice(0, 24)};Parent=${hex.slice(24, 40)};Sampled=0`;
}

/** The headers of `GET …/invocation/next`'s answer. */
export function eventHeaders(o: {
  id: string;
  deadline: number;
  arn: string;
  trace: string;
  caller?: LambdaCaller;
}): Record<string, string> {
  const h: Record<string, string> = {
    'content-type': 'application/json',
    'lambda-runtime-aws-request-id': o.id,
    'lambda-runtime-deadline-ms': String(Math.floor(o.deadline)),
    'lambda-runtime-invoked-function-arn': o.arn,
    'lambda-runtime-trace-id': o.trace,
  };
  // Header values cannot carry line breaks: a caller's value with one is left out, not passed on.
  const ok = (v: string | undefined): v is string => v !== undefined && !/[\r\n\0]/.test(v);
  if (ok(o.caller?.clientContext)) h['lambda-runtime-client-context'] = o.caller.clientContext;
  if (ok(o.caller?.cognitoIdentity)) h['lambda-runtime-cognito-identity'] = o.caller.cognitoIdentity;
  return h;
}

/** What a Lambda caller may pass to the function (the Invoke API's X-Amz-Client-Context, decoded JSON). */
export interface LambdaCaller {
  /** JSON text: `Lambda-Runtime-Client-Context` */
  clientContext?: string;
  /** JSON text: `Lambda-Runtime-Cognito-Identity` */
  cognitoIdentity?: string;
}

export type RuntimeRoute =
  | { kind: 'next' }
  | { kind: 'response'; id: string }
  | { kind: 'error'; id: string }
  | { kind: 'init-error' }
  | { kind: 'not-found' }
  | { kind: 'method'; allow: string };

/** Which Runtime API call a request is (the query string is ignored, as Lambda does). */
export function routeOf(method: string, url: string): RuntimeRoute {
  const path = url.split('?')[0] ?? '';
  const want = (m: string, r: RuntimeRoute): RuntimeRoute =>
    method === m ? r : { kind: 'method', allow: m };
  if (path === `${PREFIX}/invocation/next`) return want('GET', { kind: 'next' });
  if (path === `${PREFIX}/init/error`) return want('POST', { kind: 'init-error' });
  const m = /^\/2018-06-01\/runtime\/invocation\/([^/]+)\/(response|error)$/.exec(path);
  if (!m) return { kind: 'not-found' };
  const id = decodeURIComponent(m[1]!);
  return want('POST', m[2] === 'response' ? { kind: 'response', id } : { kind: 'error', id });
}

/** `{errorMessage, errorType}`, the shape of every Runtime API error answer. */
export function apiError(errorType: string, errorMessage: string): string {
  return JSON.stringify({ errorMessage, errorType });
}

export interface ErrorDocument {
  /** Lambda's error document, as the caller gets it */
  body: Buffer;
  errorType: string;
}

/**
 * What a runtime posted to `…/error` or `init/error`: its JSON document when it is one (the
 * `Lambda-Runtime-Function-Error-Type` header wins over its errorType, as in Lambda), otherwise
 * the text wrapped into one.
 */
export function errorDocument(body: Buffer, headerType: string | undefined): ErrorDocument {
  let doc: Record<string, unknown> | undefined;
  try {
    const parsed: unknown = JSON.parse(body.toString('utf8'));
    if (parsed && typeof parsed === 'object' && !Array.isArray(parsed))
      doc = parsed as Record<string, unknown>;
  } catch {
    // not JSON: wrapped below
  }
  const docType = typeof doc?.errorType === 'string' ? doc.errorType : undefined;
  const errorType = headerType?.trim() || docType || 'Unhandled';
  if (!doc) doc = { errorMessage: body.toString('utf8') };
  if (typeof doc.errorMessage !== 'string') doc.errorMessage = String(doc.errorMessage ?? '');
  return { body: Buffer.from(JSON.stringify({ ...doc, errorType })), errorType };
}

/** The document of an error the platform saw rather than the runtime reported. */
export function platformError(errorType: string, errorMessage: string): ErrorDocument {
  return { body: Buffer.from(JSON.stringify({ errorMessage, errorType })), errorType };
}
