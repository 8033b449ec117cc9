/**
 * A command's action, imported only when that command runs. Every `agni` invocation loads every
 * command's definition (arguments, options, help); loading every command's code and dependencies
 * with it made even `agni --version` pay for the engine, NATS, tar, yaml and zod.
 */
export function lazyAction<A extends unknown[]>(
  load: () => Promise<(...args: A) => unknown>,
): (...args: A) => Promise<void> {
  return async (...args) => {
    const action = await load();
    await action(...args);
  };
}
