import { readFile } from 'node:fs/promises';

/**
 * Is `pid` a live dbops (Node.js) process of this host? Lock files record their owner's pid; a pid
 * since reused by another program counts as dead, so a crashed owner's lock is taken over.
 */
export async function processAlive(pid: number): Promise<boolean> {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8');
    return /dbops|node|vitest/.test(cmdline);
  } catch {
    return true; // no /proc (macOS): trust kill(0)
  }
}
