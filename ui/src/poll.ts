/**
 * Data that stays current: fetched at once, then again every `everyMs` while the page is visible.
 * Polling is what makes a deploy or an invocation appear without a reload; each page asks only for
 * what it shows, so a poll is one small request.
 */
import { useCallback, useEffect, useRef, useState } from 'preact/hooks';

export interface Polled<T> {
  data: T | undefined;
  error: Error | undefined;
  reload: () => void;
}

export function usePoll<T>(load: () => Promise<T>, deps: unknown[], everyMs = 2000): Polled<T> {
  const [data, setData] = useState<T>();
  const [error, setError] = useState<Error>();
  const [tick, setTick] = useState(0);
  const gen = useRef(0);
  const reload = useCallback(() => setTick((n) => n + 1), []);
  useEffect(() => {
    const mine = ++gen.current;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const run = async () => {
      if (document.visibilityState !== 'hidden') {
        try {
          const d = await load();
          if (mine !== gen.current) return;
          setData(d);
          setError(undefined);
        } catch (e) {
          if (mine !== gen.current) return;
          setError(e as Error);
        }
      }
      if (mine === gen.current && everyMs > 0) timer = setTimeout(run, everyMs);
    };
    void run();
    return () => {
      gen.current++;
      clearTimeout(timer);
    };
  }, [...deps, tick]);
  return { data, error, reload };
}
