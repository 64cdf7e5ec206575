import { mkdir, readdir, readFile, rename, stat, unlink, writeFile, appendFile } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';

import type { WalContext } from './context.js';
import { dropShellMarkers } from './quick-ok.js';

/**
 * Local state next to pg_wal (`pg_wal/.dbops` by default: same filesystem, so renames are atomic,
 * and pg_basebackup never copies pg_wal's contents):
 *   ok/<name>        a segment the background worker has durably archived; the archive_command call
 *                    for it returns at once (after checking it is still the same file)
 *   okq/<name>-<ids> the same, as an empty marker bin/dbops (the shell entry) can check without Node
 *   prefetch/<name>  a fetched, verified, decoded segment waiting for restore_command
 *   dropped.log      segments the drop valve gave up (one JSON line each)
 */
export function spoolDir(ctx: WalContext, walFilePath: string): string {
  return ctx.settings.spoolDir ?? join(dirname(walFilePath), '.dbops');
}

/** What the worker records: enough to recognise the very same file without reading it again. */
export interface OkRecord {
  key: string;
  repository: string;
  size: number;
  mtimeMs: number;
  ino: number;
  sha256: string;
  /** The worker's invocation (quick-ok.ts): lets the call skip loading the config. */
  stamp?: string;
}

export async function recordPushed(
  spool: string,
  name: string,
  filePath: string,
  key: string,
  repository: string,
  sha256: string,
  stamp?: string,
  shellMarker?: string,
): Promise<void> {
  const st = await stat(filePath);
  await mkdir(join(spool, 'ok'), { recursive: true, mode: 0o700 });
  const rec: OkRecord = {
    key,
    repository,
    size: st.size,
    mtimeMs: st.mtimeMs,
    ino: st.ino,
    sha256,
    ...(stamp ? { stamp } : {}),
  };
  if (shellMarker) {
    // Before the record, so that a call that takes the record also finds the marker to remove.
    await mkdir(join(spool, 'okq'), { recursive: true, mode: 0o700 });
    await writeFile(join(spool, 'okq', shellMarker), '', { mode: 0o600 });
  }
  const tmp = join(spool, 'ok', `.${name}.${process.pid}.tmp`);
  await writeFile(tmp, JSON.stringify(rec), { mode: 0o600 });
  await rename(tmp, join(spool, 'ok', name));
}

/**
 * Whether the worker already archived exactly this file (same inode, size and mtime: PostgreSQL
 * never rewrites a segment once it is marked .ready). The record is consumed either way.
 */
export async function takePushed(
  spool: string,
  filePath: string,
  repository: string,
): Promise<OkRecord | undefined> {
  const file = join(spool, 'ok', basename(filePath));
  let rec: OkRecord;
  try {
    rec = JSON.parse(await readFile(file, 'utf8')) as OkRecord;
  } catch {
    return undefined;
  }
  await unlink(file).catch(() => {});
  dropShellMarkers(join(spool, 'okq'), basename(filePath));
  const st = await stat(filePath).catch(() => undefined);
  if (
    !st ||
    st.size !== rec.size ||
    st.mtimeMs !== rec.mtimeMs ||
    st.ino !== rec.ino ||
    rec.repository !== repository
  )
    return undefined;
  return rec;
}

/** Names of the files PostgreSQL has marked ready for archiving, oldest first (history files first). */
export async function readyFiles(walDir: string): Promise<string[]> {
  let names: string[];
  try {
    names = await readdir(join(walDir, 'archive_status'));
  } catch {
    return [];
  }
  const ready = names.filter((n) => n.endsWith('.ready')).map((n) => n.slice(0, -'.ready'.length));
  const rank = (n: string) => (n.endsWith('.history') ? 0 : 1);
  return ready.sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
}

export async function recordDropped(spool: string, entry: Record<string, unknown>): Promise<void> {
  await mkdir(spool, { recursive: true, mode: 0o700 });
  await appendFile(join(spool, 'dropped.log'), `${JSON.stringify(entry)}\n`, { mode: 0o600 });
}

export function prefetchPath(spool: string, name: string): string {
  return join(spool, 'prefetch', name);
}
