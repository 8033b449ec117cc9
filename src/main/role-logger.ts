/**
 * The log of `agni up`, `agni server` and `agni agent`: JSON lines on stderr. Written without
 * blocking: a synchronous write per line was a measurable share of a warm call's server time (a
 * profile under load); lines written while one is in flight go out together. Pino flushes what is
 * left synchronously when the process exits.
 *
 * The lines waiting are bounded (AGNI_LOG_BUFFER, 16 MiB): where synchronous writes blocked on a
 * stderr nobody reads (a stuck journal, an undrained pipe), an unbounded buffer would grow with
 * every line, and a caller can cause one per call. Past the bound sonic-boom drops a line
 * ('drop'); they are counted and, once stderr has taken the rest ('drain'), one warning says how
 * many.
 */
import pino, { type Logger } from 'pino';
import { envBytes } from '../app/config.js';

export function roleLogger(): Logger {
  const maxLength = envBytes('AGNI_LOG_BUFFER', 16 * 1024 * 1024);
  const dest = pino.destination({ dest: 2, sync: false, maxLength });
  const logger = pino({ level: process.env.AGNI_LOG_LEVEL ?? 'info' }, dest);
  let dropped = 0;
  dest.on('drop', () => dropped++); // pino writes each line on its own
  dest.on('drain', () => {
    if (dropped === 0) return;
    const n = dropped;
    dropped = 0;
    logger.warn({ dropped_lines: n }, 'log lines dropped: stderr was not read');
  });
  return logger;
}
