import { validateKey } from '../../storage/keys.js';

/**
 * Where things live in a repository. Everything of one target sits under `<target>/`, so that
 * physical backups and WAL (`<target>/wal/<timeline>/<segment>`) share the catalogue and retention:
 *
 *   <target>/backups/<id>/manifest.json       the commit point: written last, a backup exists only with it
 *   <target>/backups/<id>/in-progress.json    written first; lets prune find the leftovers of a crash
 *   <target>/backups/<id>/verification.json   the latest `backup verify` result
 *   <target>/backups/<id>/<data object(s)>    db.dump.zst.age, db.tar.zst, db.archive.gz …
 *   locks/writer.json                         the repository's writer lease (backup, prune, rekey)
 */
export const MANIFEST_NAME = 'manifest.json';
export const IN_PROGRESS_NAME = 'in-progress.json';
export const VERIFICATION_NAME = 'verification.json';
export const WRITER_LEASE_KEY = 'locks/writer.json';

export function backupsPrefix(target: string): string {
  return `${validateKey(target)}/backups/`;
}

export function backupPrefix(target: string, id: string): string {
  return `${backupsPrefix(target)}${id}/`;
}

export function backupKey(target: string, id: string, name: string): string {
  return validateKey(`${backupPrefix(target, id)}${name}`);
}

export function manifestKey(target: string, id: string): string {
  return backupKey(target, id, MANIFEST_NAME);
}

/** Where a target's WAL goes (issue 4 owns its content; prune must know to leave it alone). */
export function walPrefix(target: string): string {
  return `${validateKey(target)}/wal/`;
}

/** `<target>/backups/<id>/<name>` → its parts, or undefined for any other key. */
export function parseBackupKey(key: string): { target: string; id: string; name: string } | undefined {
  const m = /^([^/]+)\/backups\/([^/]+)\/(.+)$/.exec(key);
  if (!m) return undefined;
  return { target: m[1]!, id: m[2]!, name: m[3]! };
}

/** The file-name suffix a stored object gets from its pipeline, so `zstd -d`/`age -d` users know what it is. */
export function storedSuffix(compression: 'zstd' | 'gzip' | 'none', encrypted: boolean): string {
  const c = compression === 'zstd' ? '.zst' : compression === 'gzip' ? '.gz' : '';
  return `${c}${encrypted ? '.age' : ''}`;
}
