import { Readable } from 'node:stream';

import { ChecksFailed } from '../../errors.js';
import { isNotFound, ObjectExistsError } from '../../storage/errors.js';
import type { Repository } from '../../storage/repository.js';
import { readAll } from './read-all.js';
import { archiveInfoKey } from './layout.js';
import { majorOfMagic, type SegmentHeader } from './segment.js';

/**
 * Which cluster a target's WAL archive belongs to. Written by the first push (create-if-absent),
 * compared by every later one: a cloned VM, a restored snapshot or a typo in the config would
 * otherwise interleave two clusters' WAL under one name, and recovery would fail only on the day
 * it is needed.
 */
export interface ArchiveInfo {
  format: 'dbops-wal-archive';
  version: 1;
  systemIdentifier: string;
  /** XLOG_PAGE_MAGIC: the WAL format, i.e. the PostgreSQL major version. */
  walMagic: number;
  major: number | undefined;
  segmentSize: number;
  createdAt: string;
}

export async function readArchiveInfo(repo: Repository, target: string): Promise<ArchiveInfo | undefined> {
  try {
    return JSON.parse((await readAll(repo, archiveInfoKey(target))).toString('utf8')) as ArchiveInfo;
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

export class WrongClusterError extends ChecksFailed {}

export function checkAgainstArchive(
  info: ArchiveInfo,
  header: SegmentHeader,
  name: string,
  location: string,
): void {
  if (info.systemIdentifier !== header.systemIdentifier) {
    throw new WrongClusterError(
      `${name} belongs to the cluster with system identifier ${header.systemIdentifier}, but the WAL archive in ${location} belongs to ${info.systemIdentifier}; refusing to mix them`,
      {
        hint: 'a cloned or re-initialised cluster must archive under another target name (wal.target), or into another repository',
      },
    );
  }
  if (info.walMagic !== header.magic) {
    throw new WrongClusterError(
      `${name} has WAL format 0x${header.magic.toString(16)} (PostgreSQL ${majorOfMagic(header.magic) ?? '?'}), the archive holds format 0x${info.walMagic.toString(16)} (PostgreSQL ${info.major ?? '?'})`,
      { hint: 'after a major upgrade (a new system identifier anyway) archive under a new target name' },
    );
  }
}

/** The archive's identity, created from this segment's header when the archive is new. */
export async function ensureArchiveInfo(
  repo: Repository,
  target: string,
  header: SegmentHeader,
  now: Date,
): Promise<ArchiveInfo> {
  const existing = await readArchiveInfo(repo, target);
  if (existing) return existing;
  const info: ArchiveInfo = {
    format: 'dbops-wal-archive',
    version: 1,
    systemIdentifier: header.systemIdentifier,
    walMagic: header.magic,
    major: majorOfMagic(header.magic),
    segmentSize: header.segmentSize,
    createdAt: now.toISOString(),
  };
  const body = Buffer.from(`${JSON.stringify(info, null, 2)}\n`);
  try {
    await repo.put(archiveInfoKey(target), Readable.from([body]), {
      ifAbsent: true,
      contentLength: body.byteLength,
    });
    return info;
  } catch (err) {
    if (err instanceof ObjectExistsError) return (await readArchiveInfo(repo, target))!;
    throw err;
  }
}
