import { walPrefix } from '../layout.js';
import type { Repository } from '../../../storage/repository.js';
import type { ReadPipelineOptions } from '../../../streams/pipeline.js';
import { decodeWal } from '../../wal/codec.js';
import { walNameOfKey } from '../../wal/layout.js';
import { readAll } from '../../wal/read-all.js';

/** pg_basebackup's argv. */
export function basebackupArgs(label: string): string[] {
  // -D - -Ft: one tar on stdout, streamed into the repository (no temp copy of the cluster).
  // -X none: the WAL comes from the archive; the backup counts only once start..stop is archived.
  return ['-D', '-', '-F', 't', '-X', 'none', '-c', 'fast', '-l', label, '-v'];
}

export interface BackupHistory {
  startLsn: string;
  stopLsn: string;
  timeline: number;
  label: string;
  startTime?: string;
  stopTime?: string;
}

/**
 * The backup history file PostgreSQL writes at backup stop (`<segment>.<offset>.backup`): START and
 * STOP WAL LOCATION, timelines, times and the LABEL. pg_basebackup does not print the LSNs when
 * writing to stdout, and this file is archived like a segment, so it is where the range is read.
 */
export function parseBackupHistory(text: string): BackupHistory | undefined {
  const field = (name: string) => new RegExp(`^${name}: (.*)$`, 'm').exec(text)?.[1]?.trim();
  const start = field('START WAL LOCATION')?.split(' ')[0];
  const stop = field('STOP WAL LOCATION')?.split(' ')[0];
  const timeline = field('START TIMELINE');
  const label = field('LABEL');
  if (!start || !stop || !timeline || label === undefined) return undefined;
  const startTime = field('START TIME');
  const stopTime = field('STOP TIME');
  return {
    startLsn: start,
    stopLsn: stop,
    timeline: Number(timeline),
    label,
    ...(startTime ? { startTime } : {}),
    ...(stopTime ? { stopTime } : {}),
  };
}

/** Waits until the history file of the backup labelled `label` is archived, and reads it. */
export async function waitForBackupHistory(
  repo: Repository,
  walTarget: string,
  label: string,
  read: ReadPipelineOptions,
  timeoutMs: number,
  signal: AbortSignal,
): Promise<BackupHistory> {
  const started = performance.now();
  const seen = new Set<string>();
  for (;;) {
    const keys: string[] = [];
    for await (const o of repo.list(walPrefix(walTarget)))
      if (walNameOfKey(o.key)?.endsWith('.backup') && !seen.has(o.key)) keys.push(o.key);
    for (const key of keys.sort().reverse()) {
      seen.add(key);
      const head = await repo.head(key);
      if (!head) continue;
      const h = parseBackupHistory(
        (await decodeWal(key, await readAll(repo, key), head.metadata, read)).toString('utf8'),
      );
      if (h?.label === label) return h;
    }
    if (performance.now() - started > timeoutMs) {
      throw new Error(
        `the backup history file of "${label}" was not archived within ${Math.round(timeoutMs / 1000)} s`,
      );
    }
    if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('aborted');
    await new Promise((r) => setTimeout(r, 500));
  }
}
