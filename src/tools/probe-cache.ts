import { readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

import { userCacheDir } from '../cache-dir.js';

/*
 * What a program says about itself (`pg_dump --version`, `zstd --version`, `pg_config --bindir`)
 * changes only when the program does, yet asking costs a process start: 10-40 ms each on the 2-core
 * machines, and a backup asked five programs before it dumped a byte. Answers are kept across runs,
 * keyed by the file's size, mtime and inode (an upgrade replaces the file) plus whatever else the
 * answer depends on (`extra`).
 */

interface Entry {
  size: number;
  mtimeMs: number;
  ino: number;
  extra: string;
  value: unknown;
}

const FILE = 'tool-probes.json';
let memo: { dir: string; entries: Record<string, Entry> } | null | undefined;

function entries(): { dir: string; entries: Record<string, Entry> } | null {
  if (memo !== undefined) return memo;
  const dir = userCacheDir();
  if (!dir) return (memo = null);
  let parsed: Record<string, Entry> = {};
  try {
    const data = JSON.parse(readFileSync(join(dir, FILE), 'utf8')) as unknown;
    if (data && typeof data === 'object' && !Array.isArray(data)) parsed = data as Record<string, Entry>;
  } catch {
    // no cache yet, or a damaged one: start afresh
  }
  return (memo = { dir, entries: parsed });
}

/** `compute()` once per version of `file`; undefined answers (the program failed) are not kept. */
export async function cachedProbe<T>(
  kind: string,
  file: string,
  compute: () => Promise<T | undefined>,
  extra = '',
): Promise<T | undefined> {
  const cache = entries();
  let st;
  try {
    st = statSync(file);
  } catch {
    return compute();
  }
  if (!cache) return compute();
  const key = `${kind} ${file}`;
  const hit = cache.entries[key];
  if (hit && hit.size === st.size && hit.mtimeMs === st.mtimeMs && hit.ino === st.ino && hit.extra === extra)
    return hit.value as T;
  const value = await compute();
  if (value === undefined) return value;
  cache.entries[key] = { size: st.size, mtimeMs: st.mtimeMs, ino: st.ino, extra, value };
  try {
    const tmp = join(cache.dir, `${FILE}.${process.pid}.tmp`);
    writeFileSync(tmp, JSON.stringify(cache.entries), { mode: 0o600 });
    renameSync(tmp, join(cache.dir, FILE));
  } catch {
    // a cache that cannot be written only costs time
  }
  return value;
}
