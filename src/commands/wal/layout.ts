import { validateKey } from '../../storage/keys.js';
import { walPrefix } from '../backup/layout.js';
import { parseWalFileName, timelineHex, type WalFileName } from './segment.js';

/**
 * WAL lives next to the target's backups, one folder per timeline:
 *
 *   <target>/wal/archive.json                        system identifier, WAL format, segment size
 *   <target>/wal/<timeline>/<segment>                every file under its PostgreSQL name, with
 *   <target>/wal/<timeline>/<tli>.history            its checksums and pipeline in object metadata
 *   <target>/wal/<timeline>/<segment>.<off>.backup
 *
 * The key carries no compression suffix on purpose: a segment has exactly one key whatever the
 * pipeline, so a changed compression setting can never archive the same segment twice.
 */
export const ARCHIVE_INFO_NAME = 'archive.json';

export function walFileKey(target: string, file: WalFileName | string): string {
  const f = typeof file === 'string' ? parseWalFileName(file) : file;
  return validateKey(`${walPrefix(target)}${timelineHex(f.timeline)}/${f.name}`);
}

export function archiveInfoKey(target: string): string {
  return validateKey(`${walPrefix(target)}${ARCHIVE_INFO_NAME}`);
}

/** `<target>/wal/<tli>/<name>` → the file name, or undefined for other keys. */
export function walNameOfKey(key: string): string | undefined {
  const m = /\/wal\/[0-9A-F]{8}\/([^/]+)$/.exec(key);
  return m?.[1];
}

/** Object metadata names (lower-case, as S3 returns them). */
export const META = {
  sha256: 'dbops-sha256',
  size: 'dbops-size',
  storedSha256: 'dbops-stored-sha256',
  compression: 'dbops-compression',
  encryption: 'dbops-encryption',
  systemIdentifier: 'dbops-system-identifier',
} as const;
