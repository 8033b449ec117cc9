/** A long-running verb (`agni server`, `agni agent`): runs until SIGINT or SIGTERM, then stops cleanly. */
export function runUntilSignal(verb: string, close: () => Promise<void>): Promise<void> {
  return new Promise<void>((resolve) => {
    const stop = (sig: string) => {
      process.stdout.write(`${verb}: ${sig}, shutting down\n`);
      close().then(
        () => {
          process.stdout.write(`${verb}: stopped cleanly\n`);
          resolve();
        },
        (e) => {
          process.stderr.write(`${verb}: shutdown failed: ${(e as Error).message}\n`);
          process.exitCode = 1;
          resolve();
        },
      );
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
}
