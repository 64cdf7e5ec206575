import { randomBytes } from 'node:crypto';

import { ConfigError } from '../../errors.js';

/**
 * A backup id sorts by time as a plain string (S3 lists keys in byte order): the UTC start time to
 * the second, then a short random suffix so two backups started in the same second never collide.
 * `20240502T031500Z-7f3a9c`.
 */
const ID_PATTERN = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z-([0-9a-f]{6})$/;

export function newBackupId(now: Date = new Date(), suffix = randomBytes(3).toString('hex')): string {
  const iso = now.toISOString(); // 2024-05-02T03:15:00.123Z
  const stamp = `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 19)}Z`;
  return `${stamp}-${suffix}`;
}

export function isBackupId(text: string): boolean {
  return ID_PATTERN.test(text);
}

/** The start time encoded in an id (to the second). */
export function backupIdTime(id: string): Date {
  const m = ID_PATTERN.exec(id);
  if (!m)
    throw new ConfigError(`"${id}" is not a backup id`, {
      hint: 'ids look like 20240502T031500Z-7f3a9c (see dbops backup list)',
    });
  return new Date(Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!));
}
