/**
 * A promise that settles once `w` can take more (drain) or never will (close), so a writer that
 * honours backpressure never waits forever; undefined when `w` is destroyed already.
 */
export function writable(w: NodeJS.WritableStream & { destroyed: boolean }): Promise<void> | undefined {
  if (w.destroyed) return undefined;
  return new Promise<void>((resolve) => {
    const done = () => {
      w.off('drain', done);
      w.off('close', done);
      resolve();
    };
    w.on('drain', done);
    w.on('close', done);
  });
}
