/**
 * The Lambda API's two kinds of failure. A request Lambda refuses is an HTTP error with a type
 * (`x-amzn-ErrorType` and `{"Type", "message"}`); a function that ran and failed is a 200 whose
 * body is the function's error document and whose `X-Amz-Function-Error` says so. Pure.
 */
import { type AgniError, ERROR_STATUS, type ErrorCode } from './errors.js';
import type { PhaseTimes } from './phases.js';

/** what these functions read of an invocation record (the store's InvocationRecord has it) */
export interface RanInvocation {
  id: string;
  function: string;
  version: number;
  status: string;
  exitCode: number | null;
  stderrTail: string;
  phases: PhaseTimes;
}

export interface LambdaRefusal {
  /** Lambda's exception name: what the SDK throws and awscli prints */
  type: string;
  status: number;
  message: string;
  /** `User` for the caller's mistakes, `Service` for the server's */
  fault: 'User' | 'Service';
}

/** Agni error codes whose Lambda exception differs from the default for their status */
const TYPES: Partial<Record<ErrorCode, [type: string, status: number]>> = {
  function_not_found: ['ResourceNotFoundException', 404],
  invocation_not_found: ['ResourceNotFoundException', 404],
  not_found: ['ResourceNotFoundException', 404],
  bad_request: ['InvalidParameterValueException', 400],
  manifest_invalid: ['InvalidParameterValueException', 400],
  unsupported_media_type: ['UnsupportedMediaTypeException', 415],
  payload_too_large: ['RequestTooLargeException', 413],
  payload_invalid: ['InvalidRequestContentException', 400],
  overloaded: ['TooManyRequestsException', 429],
  unauthorized: ['UnrecognizedClientException', 403],
  signature_missing: ['MissingAuthenticationTokenException', 403],
  signature_malformed: ['IncompleteSignatureException', 400],
  signature_invalid: ['InvalidSignatureException', 403],
  access_key_unknown: ['UnrecognizedClientException', 403],
  cross_origin: ['AccessDeniedException', 403],
  forbidden: ['AccessDeniedException', 403],
  host_not_allowed: ['AccessDeniedException', 403],
  upload_idle: ['InvalidRequestContentException', 400],
};

/** Codes that another branch may add (version and alias lookups): matched by name. */
const NOT_FOUND_SUFFIX = '_not_found';

export function lambdaRefusal(e: AgniError): LambdaRefusal {
  const known = TYPES[e.code];
  const status = known?.[1] ?? (ERROR_STATUS[e.code] as number | undefined) ?? 500;
  const type =
    known?.[0] ??
    (String(e.code).endsWith(NOT_FOUND_SUFFIX)
      ? 'ResourceNotFoundException'
      : status < 500
        ? 'InvalidParameterValueException'
        : 'ServiceException');
  const finalStatus = type === 'ResourceNotFoundException' ? 404 : status;
  return { type, status: finalStatus, message: e.message, fault: finalStatus < 500 ? 'User' : 'Service' };
}

/** The body of a Lambda error answer. */
export function refusalBody(r: LambdaRefusal): { Type: string; message: string } {
  return { Type: r.fault, message: r.message };
}

export interface FunctionErrorDocument {
  errorType: string;
  errorMessage: string;
  requestId?: string;
  stackTrace?: string[];
}

const MAX_MESSAGE = 1024;
const MAX_TRACE_LINES = 20;

function lines(text: string): string[] {
  return text
    .split('\n')
    .map((l) => l.trimEnd())
    .filter((l) => l.trim() !== '');
}

/**
 * The error document of an invocation that ran and failed (a filter that exited non-zero, ran past
 * its deadline or out of memory), in the shape Lambda's runtimes use; undefined when it succeeded
 * or never ran (then the API answers with a refusal instead).
 */
export function functionErrorDocument(
  r: Omit<RanInvocation, 'version' | 'phases'>,
  timeoutMs: number,
): FunctionErrorDocument | undefined {
  switch (r.status) {
    case 'failed': {
      const stderr = lines(r.stderrTail);
      const last = stderr.at(-1)?.trim();
      return {
        errorType: 'Runtime.ExitError',
        errorMessage: (last ?? `${r.function} exited with code ${r.exitCode ?? 'unknown'}`).slice(
          0,
          MAX_MESSAGE,
        ),
        requestId: r.id,
        stackTrace: [
          ...stderr.slice(-MAX_TRACE_LINES).map((l) => l.slice(0, MAX_MESSAGE)),
          `exit code ${r.exitCode ?? 'unknown'}`,
        ],
      };
    }
    case 'timeout':
      return {
        errorType: 'Sandbox.Timedout',
        errorMessage: `RequestId: ${r.id} Error: Task timed out after ${(timeoutMs / 1000).toFixed(2)} seconds`,
        requestId: r.id,
      };
    case 'oom':
      return {
        errorType: 'Runtime.OutOfMemory',
        errorMessage: `RequestId: ${r.id} Error: Runtime exited with error: signal: killed`,
        requestId: r.id,
      };
    default:
      return undefined;
  }
}

/** What `X-Amz-Log-Result` carries at most, before base64 (Lambda's 4 KB). */
export const LOG_RESULT_BYTES = 4096;

/**
 * The last 4 KB of an invocation's log as Lambda writes it: START, the function's own log lines,
 * END and REPORT. Base64, ready for the `X-Amz-Log-Result` header.
 */
export function logResult(
  r: Pick<RanInvocation, 'id' | 'version' | 'phases'>,
  log: string,
  memoryBytes: number,
): string {
  const started = r.phases.started ?? r.phases.received;
  const duration = started !== undefined && r.phases.finished !== undefined ? r.phases.finished - started : 0;
  const body = log === '' || log.endsWith('\n') ? log : `${log}\n`;
  const text =
    `START RequestId: ${r.id} Version: ${r.version}\n${body}END RequestId: ${r.id}\n` +
    `REPORT RequestId: ${r.id}\tDuration: ${duration.toFixed(2)} ms\tBilled Duration: ${Math.ceil(duration)} ms\t` +
    `Memory Size: ${Math.round(memoryBytes / 1024 / 1024)} MB\t\n`;
  const bytes = Buffer.from(text, 'utf8');
  return bytes.subarray(Math.max(0, bytes.length - LOG_RESULT_BYTES)).toString('base64');
}
