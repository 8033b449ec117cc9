/** The one place CLI failures become messages and exit codes (sysexits-style where one fits). */
import { CommanderError } from 'commander';
import { DEFAULT_URL } from '../app/config.js';
import { type AgniError, type ErrorCode, isAgniError } from '../core/errors.js';
import { networkError } from './net-errors.js';

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
  no_node: 69,
  store_unavailable: 69,
  nats_unavailable: 69,
  unauthorized: 77,
  forbidden: 77,
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

/** How many lines of a failed function's stderr the CLI shows under the error. */
export const STDERR_TAIL_LINES = 20;

/** The last lines of a function's stderr, indented, for under the error line ('' when none). */
export function stderrTail(text: unknown): string {
  if (typeof text !== 'string' || text.trim() === '') return '';
  const lines = text.replace(/\n+$/, '').split('\n');
  const shown = lines.slice(-STDERR_TAIL_LINES);
  const head = lines.length > shown.length ? `stderr (last ${shown.length} lines):` : 'stderr:';
  return `${head}\n${shown.map((l) => `  ${l}`).join('\n')}\n`;
}

/** What to do about the system errors `agni up` and file reads meet most. */
const SYSTEM_HINTS: Record<string, string> = {
  EADDRINUSE: 'another process (perhaps another `agni up`) listens there: stop it, or choose another --port',
  EACCES: 'permission denied: `agni up` runs as root (runc, cgroups); files must be readable by you',
  EPERM: 'operation not permitted: `agni up` runs as root (runc, cgroups)',
  ENOSPC: 'the disk is full: free some space',
  ENOENT: 'no such file or directory: check the path',
  EMFILE: 'too many open files: raise the limit (ulimit -n)',
};

/** stderr may be a closed pipe too (`2>&1 | head`): a message that cannot be written is dropped. */
function say(text: string): void {
  try {
    process.stderr.write(text);
  } catch {
    // nowhere left to say it
  }
}

export function handleCliError(e: unknown): number {
  if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 64;
  const named = isAgniError(e) ? e : networkError(e, process.env.AGNI_URL || DEFAULT_URL);
  if (named) {
    say(`error: ${named.message}\n${stderrTail(named.details?.stderr_tail)}`);
    if (named.hint) say(`hint: ${named.hint}\n`);
    return exitCodeFor(named);
  }
  const err = e as NodeJS.ErrnoException;
  say(`error: ${err?.message ?? String(e)}\n`);
  // The system refused something (a port in use, a permission): no bug, and said so.
  if (typeof err?.code === 'string' && /^E[A-Z]+$/.test(err.code)) {
    say(`hint: ${SYSTEM_HINTS[err.code] ?? 'the operating system refused it; see the message above'}\n`);
    return 71;
  }
  // A bug of ours: one line, and the stack only on request.
  say(
    process.env.AGNI_DEBUG
      ? `${err?.stack ?? ''}\n`
      : 'hint: this looks like a bug in agni; AGNI_DEBUG=1 shows where it happened\n',
  );
  return 1;
}

/** Exit code when stdout's reader went away: 128 + SIGPIPE, what a shell reports for `cat`. */
export const EXIT_STDOUT_CLOSED = 141;

const onClosed: (() => void)[] = [];

/** Runs `fn` (e.g. to stop a progress bar) before the CLI exits because stdout's reader went away. */
export function onStdoutClosed(fn: () => void): void {
  onClosed.push(fn);
}

/**
 * Installs the process-wide guards: a reader that went away (`agni logs | head -1`) ends the CLI
 * quietly, as it ends `cat`; anything thrown outside a command's own await chain still goes
 * through handleCliError, so no path prints a stack.
 */
export function installCliGuards(): void {
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') process.exit(handleCliError(e));
    for (const fn of onClosed) fn();
    process.exit(EXIT_STDOUT_CLOSED);
  });
  process.stderr.on('error', () => {
    // a closed stderr: errors can no longer be shown, and must not crash the CLI either
  });
  const fatal = (e: unknown) => process.exit(handleCliError(e));
  process.on('uncaughtException', fatal);
  process.on('unhandledRejection', fatal);
}
