/** The one place CLI failures become messages and exit codes (sysexits-style where one fits). */
import { CommanderError } from 'commander';
import { type AgniError, type ErrorCode, isAgniError } from '../core/errors.js';

const EXIT: Partial<Record<ErrorCode, number>> = {
  bad_request: 64,
  manifest_invalid: 65,
  function_not_found: 66,
  version_not_found: 66,
  alias_not_found: 66,
  invocation_not_found: 66,
  image_not_found: 66,
  not_found: 66,
  server_unreachable: 69,
  backend_unavailable: 69,
  store_unavailable: 69,
  unauthorized: 77,
  signature_missing: 77,
  signature_malformed: 77,
  signature_invalid: 77,
  access_key_unknown: 77,
  cross_origin: 77,
  host_not_allowed: 77,
  unsupported_media_type: 64,
  timeout: 124,
  out_of_memory: 137,
  payload_too_large: 65,
  payload_invalid: 65,
  upload_idle: 74,
  overloaded: 75,
  insufficient_storage: 74,
  not_finished: 75,
  conflict: 65,
  registry_error: 76,
  layer_invalid: 65,
  platform_unsupported: 65,
};

export function exitCodeFor(e: AgniError): number {
  if (e.code === 'function_failed') {
    const code = Number(e.details?.exit_code);
    // A failed function's own exit code passes through, like a command in a shell pipeline.
    return Number.isInteger(code) && code > 0 && code < 256 ? code : 1;
  }
  return EXIT[e.code] ?? 1;
}

export function handleCliError(e: unknown): number {
  if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 64;
  if (isAgniError(e)) {
    process.stderr.write(`error: ${e.message}\n`);
    if (e.hint) process.stderr.write(`hint: ${e.hint}\n`);
    return exitCodeFor(e);
  }
  const err = e as Error;
  process.stderr.write(`error: ${err?.message ?? String(e)}\n`);
  if (process.env.AGNI_DEBUG) process.stderr.write(`${err?.stack ?? ''}\n`);
  return 1;
}
