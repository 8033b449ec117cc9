/**
 * A Backend that counts the sandboxes it is asked to make, and those it failed to make, for the
 * metrics, without the backends or their callers knowing. A rejected run, prepare or startWorker
 * is a creation failure (backends reject only on infrastructure failure, never for the user's
 * program); a function's own exit code is not.
 */
import type { Metrics, SandboxKind } from '../core/metrics.js';
import type { Backend } from './backend.js';

export function meteredBackend(
  inner: Backend,
  node: string,
  metrics: Pick<Metrics, 'sandboxCreated' | 'sandboxFailed'>,
): Backend {
  const counted = async <T>(kind: SandboxKind, make: () => Promise<T>): Promise<T> => {
    try {
      const out = await make();
      metrics.sandboxCreated(node, kind);
      return out;
    } catch (e) {
      metrics.sandboxFailed(node, kind);
      throw e;
    }
  };
  const startWorker = inner.startWorker?.bind(inner);
  const prepare = inner.prepare?.bind(inner);
  return {
    name: inner.name,
    isolated: inner.isolated,
    available: () => inner.available(),
    run: (spec, io, hooks) => counted('run', () => inner.run(spec, io, hooks)),
    ...(startWorker ? { startWorker: (spec) => counted('worker', () => startWorker(spec)) } : {}),
    ...(prepare ? { prepare: (base) => counted('prepared', () => prepare(base)) } : {}),
    recover: () => inner.recover(),
    shutdown: () => inner.shutdown(),
  };
}
