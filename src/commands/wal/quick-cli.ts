import { parseFastArgs, type FastArgs } from './fast-args.js';
import { invocationOf, quickPickedUp } from './quick-ok.js';

/**
 * The first thing `wal push %p` runs (bin/dbops.cjs loads it as dist/wal-quick.cjs, a few KB):
 * when the background worker has already archived this segment under this same invocation, the
 * call is answered from the spool record before the WAL code (dist/wal-fast.cjs, ~180 KB to
 * compile: ~30 ms a call) loads. Returns false for anything else.
 */
export function walQuickPush(argv: string[]): boolean {
  const args = parseFastArgs(argv);
  return args !== undefined && answerPickedUp(args);
}

/** Answers a parsed `wal push` from the worker's spool record; false when there is none. */
export function answerPickedUp(args: FastArgs): boolean {
  if (args.command !== 'push') return false;
  const rec = quickPickedUp(args.positional[0]!, invocationOf(args.config, args.repo, args.target));
  if (!rec) return false;
  if (args.json)
    process.stdout.write(
      `${JSON.stringify({ file: args.positional[0], key: rec.key, status: 'picked-up-earlier', rawBytes: rec.size, workerStarted: false })}\n`,
    );
  process.exitCode = 0;
  return true;
}
