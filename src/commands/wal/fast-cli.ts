/**
 * `dbops wal push %p` and `dbops wal fetch %f %p` without commander and the other commands'
 * modules: PostgreSQL starts one process per 16 MB segment, so every import is paid thousands of
 * times a day. bin/dbops.ts calls this first; anything it does not recognise (help, another
 * command, an unknown option) returns false and goes through the normal CLI, which registers the
 * same commands (command.ts) with the same core.
 */
import { parseFastArgs } from './fast-args.js';

/** Runs `wal push` / `wal fetch` when argv is exactly that; returns false to let the full CLI run. */
export async function walFastPath(argv: string[]): Promise<boolean> {
  const args = parseFastArgs(argv);
  if (!args) return false;
  // Normally answered earlier by dist/wal-quick.cjs; here for when that file is missing.
  if (args.command === 'push') {
    const { answerPickedUp } = await import('./quick-cli.js');
    if (answerPickedUp(args)) return true;
  }
  const { runWalCommand } = await import('./run-cli.js');
  process.exitCode = await runWalCommand(args.command, args.positional, args);
  return true;
}
