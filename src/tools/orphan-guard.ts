import { spawn } from 'node:child_process';

export interface OrphanGuard {
  /** The children ended normally: stop guarding them. */
  release(): void;
}

/**
 * Ends `pids` if dbops dies first, even by `kill -9`. Children whose output goes to a pipe into
 * dbops die of SIGPIPE with it; children that write to a file (pg_dump | zstd > file) would run on
 * to the end of the dump, holding a database connection, for nothing. A small shell waits on a pipe
 * from this process: when dbops exits the pipe closes and the shell sends SIGTERM.
 */
export function guardOrphans(pids: (number | undefined)[]): OrphanGuard {
  const list = pids.filter((p): p is number => typeof p === 'number' && p > 0).map(String);
  if (list.length === 0) return { release: () => {} };
  const guard = spawn('/bin/sh', ['-c', 'read _ ; kill -TERM "$@" 2>/dev/null', 'dbops-guard', ...list], {
    stdio: ['pipe', 'ignore', 'ignore'],
  });
  guard.on('error', () => {});
  guard.stdin?.on('error', () => {});
  guard.unref();
  (guard.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  let released = false;
  return {
    release: () => {
      if (released) return;
      released = true;
      // SIGKILL: the shell must not reach its kill line, whose pids may have been reused.
      guard.kill('SIGKILL');
    },
  };
}
