/**
 * Every failure a user can see carries a stable code. The API maps codes to HTTP statuses,
 * the CLI maps them to exit codes and hints, so both stay consistent from one table.
 */
export const ERROR_STATUS = {
  bad_request: 400,
  manifest_invalid: 400,
  unauthorized: 401,
  /** a valid token whose scopes do not cover the route (or the function it acts on) */
  forbidden: 403,
  /** a Lambda API request without an AWS Signature V4 while access keys exist */
  signature_missing: 403,
  /** an AWS Signature V4 Authorization header that cannot be read */
  signature_malformed: 400,
  /** an AWS signature that does not match, is out of date or is scoped elsewhere */
  signature_invalid: 403,
  /** an AWS access key id this server did not issue (or that was removed) */
  access_key_unknown: 403,
  /** a state-changing request sent by a browser from another site (CSRF) */
  cross_origin: 403,
  /** a Host header the server does not answer to (DNS rebinding) */
  host_not_allowed: 421,
  /** a body whose Content-Type the route does not take */
  unsupported_media_type: 415,
  function_not_found: 404,
  /** `NAME@3` where NAME has no version 3 */
  version_not_found: 404,
  /** `NAME@prod` where NAME has no alias prod */
  alias_not_found: 404,
  invocation_not_found: 404,
  image_not_found: 404,
  not_found: 404,
  conflict: 409,
  not_finished: 409,
  payload_too_large: 413,
  /** a payload the function cannot take: not JSON for a `protocol: lambda` function */
  payload_invalid: 400,
  /** a request body that sent nothing for the server's upload idle period (`agni up --upload-idle`) */
  upload_idle: 408,
  overloaded: 429,
  function_failed: 502,
  /** a registry answered with an error, or sent bytes that do not match their digest */
  registry_error: 502,
  /** an image layer that is damaged or tries to escape its root (../, absolute, through a symlink) */
  layer_invalid: 422,
  platform_unsupported: 422,
  sandbox_error: 500,
  backend_unavailable: 503,
  /** cluster mode: no live node can run the function (platform, labels, backend), or all that can are draining */
  no_node: 503,
  timeout: 504,
  out_of_memory: 507,
  /** $AGNI_HOME's filesystem has less free space than `agni up --min-free`: work that writes is refused */
  insufficient_storage: 507,
  server_unreachable: 503,
  /** the cluster node running a call stopped answering (died, lost its link, or stopped) */
  node_lost: 503,
  /** the state store (`agni up --store postgres://…`) cannot be reached or used */
  store_unavailable: 503,
  /** cluster mode: NATS (the bus, work queue and blobs) cannot be reached just now */
  nats_unavailable: 503,
  internal: 500,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface AgniErrorOptions {
  hint?: string;
  details?: Record<string, unknown>;
  cause?: unknown;
}

export class AgniError extends Error {
  readonly code: ErrorCode;
  readonly hint: string | undefined;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, opts: AgniErrorOptions = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = 'AgniError';
    this.code = code;
    this.hint = opts.hint;
    this.details = opts.details;
  }

  get status(): number {
    return ERROR_STATUS[this.code];
  }

  toJSON(): {
    error: { code: ErrorCode; message: string; hint?: string; details?: Record<string, unknown> };
  } {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.hint ? { hint: this.hint } : {}),
        ...(this.details ? { details: this.details } : {}),
      },
    };
  }
}

export function isAgniError(e: unknown): e is AgniError {
  return e instanceof AgniError;
}
