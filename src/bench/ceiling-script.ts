/**
 * How a ceiling server of `agni bench load` runs as its own process (load-ceiling.ts starts it):
 * prints its URL on stdout once listening, stops on SIGTERM or when stdin ends.
 */
export async function serveAsScript(
  start: () => Promise<{ url: string; close(): Promise<void> }>,
): Promise<void> {
  const s = await start();
  process.stdout.write(`${s.url}\n`);
  const stop = () => void s.close().then(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.stdin.on('end', stop).resume();
}
