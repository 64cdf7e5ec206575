import { mkdtemp, rm, statfs } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

import { StorageError, ToolError } from '../../errors.js';

/**
 * A private (0700) temp directory for fn, removed afterwards — on success, failure and Ctrl-C (the
 * abort signal makes fn throw, and finally runs). Dumps in it hold whole databases.
 */
export async function withTempDir<T>(
  prefix: string,
  fn: (dir: string) => Promise<T>,
  root?: string,
): Promise<T> {
  const dir = await mkdtemp(join(root ?? tmpdir(), `dbops-${prefix}-`));
  try {
    return await fn(dir);
  } finally {
    await rm(dir, { recursive: true, force: true }).catch(() => {});
  }
}

/** A write that failed for want of space: an fs error, or a tool that said so on stderr. */
export function isNoSpace(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return true;
  return (
    err instanceof ToolError &&
    /No space left on device|Disk quota exceeded/i.test(`${err.message}\n${err.stderrTail}`)
  );
}

/**
 * Says a full temp directory as such (exit 5), naming the filesystem and the way out, instead of
 * a tool's failure or, worse, a damaged backup. Call it only around writes into `dir`: a restore's
 * "no space" from pg_restore is the database server's disk, not this one.
 */
export function tempSpaceError(err: unknown, dir: string, what: string, hint?: string): unknown {
  if (!isNoSpace(err)) return err;
  const root = dirname(dir);
  return new StorageError(`no space left in ${root} for ${what}`, {
    hint: hint ?? `free space in ${root}, or point --temp-dir (or TMPDIR) at a larger filesystem`,
    cause: err,
  });
}

/**
 * Fails at once, before minutes of spooling, when the filesystem holding `dir` has less free space
 * than `bytes`. DBOPS_NO_SPACE_CHECK=1 skips it (a filesystem whose free space is not what
 * statfs says: some network filesystems, quotas); a filesystem that cannot say is not checked.
 */
export async function ensureTempSpace(
  dir: string,
  bytes: number,
  what: string,
  hint?: string,
): Promise<void> {
  if (process.env.DBOPS_NO_SPACE_CHECK === '1') return;
  const stats = await statfs(dir).catch(() => undefined);
  if (!stats) return;
  const free = stats.bavail * stats.bsize;
  if (free >= bytes) return;
  const root = dirname(dir);
  throw new StorageError(
    `not enough space in ${root} for ${what}: ${Math.ceil(bytes / 2 ** 20)} MiB needed, ${Math.floor(free / 2 ** 20)} MiB free`,
    {
      hint: hint ?? `free space in ${root}, or point --temp-dir (or TMPDIR) at a larger filesystem`,
    },
  );
}
