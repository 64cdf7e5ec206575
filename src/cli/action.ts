import type { Command } from 'commander';

import type { CliContext } from './context.js';

/**
 * Wraps a command handler: the context (and with it config loading, colours, the logger) is
 * imported only when the command actually runs, so `--help` and start-up stay cheap.
 * The handler receives the context, then commander's positional arguments and options.
 */
export function action<Args extends unknown[]>(
  handler: (ctx: CliContext, ...args: Args) => Promise<void>,
): (...args: unknown[]) => Promise<void> {
  return async (...args: unknown[]) => {
    const command = args[args.length - 1] as Command;
    const { CliContext: Context } = await import('./context.js');
    await handler(new Context(command), ...(args.slice(0, -1) as Args));
  };
}

/** For handlers that build their context themselves: the same lazy import as action(). */
export async function createContext(command: Command): Promise<CliContext> {
  const { CliContext: Context } = await import('./context.js');
  return new Context(command);
}
