/**
 * The log of `agni up`, `agni server` and `agni agent`: JSON lines on stderr. Written without
 * blocking: a synchronous write per line was a measurable share of a warm call's server time (a
 * profile under load); lines written while one is in flight go out together. Pino flushes what is
 * left synchronously when the process exits.
 */
import pino, { type Logger } from 'pino';

export function roleLogger(): Logger {
  return pino({ level: process.env.AGNI_LOG_LEVEL ?? 'info' }, pino.destination({ dest: 2, sync: false }));
}
