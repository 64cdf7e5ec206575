import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

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
