import { mkdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * The per-user directory of start-up caches (a resolved WAL config, tool versions): nothing secret,
 * everything re-derivable. Undefined when the directory belongs to someone else or others may write
 * into it — a cache another user could plant would let them steer dbops — and then nothing is cached.
 */
export function userCacheDir(): string | undefined {
  const dir = join(tmpdir(), `dbops-${process.getuid?.() ?? 'user'}`);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = statSync(dir);
    if (process.getuid && st.uid !== process.getuid()) return undefined;
    if ((st.mode & 0o022) !== 0) return undefined;
    return dir;
  } catch {
    return undefined;
  }
}
