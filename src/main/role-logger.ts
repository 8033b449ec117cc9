/**
 * The log of `agni up`, `agni server` and `agni agent`: JSON lines on stderr. Written without
 * blocking: a synchronous write per line was a measurable share of a warm call's server time (a
 * profile under load); lines are written in batches of a few KiB, at most FLUSH_MS late (warnings
 * and errors at once), and lines written while a batch is in flight go out with the next. Pino flushes what is left synchronously
 * when the process exits.
 *
 * The lines waiting are bounded (AGNI_LOG_BUFFER, 16 MiB): where synchronous writes blocked on a
 * stderr nobody reads (a stuck journal, an undrained pipe), an unbounded buffer would grow with
 * every line, and a caller can cause one per call. Past the bound sonic-boom drops a line
 * ('drop'); they are counted and, once stderr has taken the rest ('drain'), one warning says how
 * many.
 */
import pino, { type Logger } from 'pino';
import { envBytes } from '../app/config.js';

/** lines wait for this many bytes before they are written... */
const BATCH_BYTES = 4096;
/** ...or this long (ms) */
const FLUSH_MS = 100;
/** pino's level number of `warn` */
const WARN = 40;

export function roleLogger(): Logger {
  const maxLength = envBytes('AGNI_LOG_BUFFER', 16 * 1024 * 1024);
  const dest = pino.destination({
    dest: 2,
    sync: false,
    maxLength,
    // Lines go out a few KiB at a time, and at least every FLUSH_MS: a write per line (a line per
    // invocation) was a tenth of a tiny job item's server time, each write a thread-pool round trip.
    minLength: Math.min(BATCH_BYTES, Math.floor(maxLength / 2)),
    periodicFlush: FLUSH_MS,
  });
  const logger = pino(
    {
      level: process.env.AGNI_LOG_LEVEL ?? 'info',
      hooks: {
        // A warning or an error goes out at once, with what waits before it: the start-up's
        // recovery report is out when the server says it listens, and a line logged just before
        // a crash (an OOM kill, a SIGKILL) is not lost in the batch.
        logMethod(args, method, level) {
          method.apply(this, args);
          if (level >= WARN) dest.flush();
        },
      },
    },
    dest,
  );
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
