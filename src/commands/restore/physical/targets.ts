import { ConfigError } from '../../../errors.js';
import { parseLsn } from '../../wal/segment.js';

/** One recovery target, as PostgreSQL's recovery_target_* settings take it. */
export type RecoveryTarget =
  | { kind: 'time'; value: string; time: Date }
  | { kind: 'lsn'; value: string; lsn: bigint }
  | { kind: 'name'; value: string }
  | { kind: 'xid'; value: string }
  | { kind: 'end' };

export interface RecoveryTargetInput {
  targetTime?: string | undefined;
  targetLsn?: string | undefined;
  targetName?: string | undefined;
  targetXid?: string | undefined;
}

/**
 * A time must carry its zone: `2024-05-02 03:15:00` would be read in the restored server's
 * TimeZone, which is how people recover to the wrong hour (pgbackrest#2531).
 */
const ZONED = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?\s*(Z|[+-]\d{2}(:?\d{2})?)$/i;

export function parseRecoveryTarget(i: RecoveryTargetInput): RecoveryTarget {
  const given = [i.targetTime, i.targetLsn, i.targetName, i.targetXid].filter((v) => v !== undefined);
  if (given.length > 1)
    throw new ConfigError('give at most one of --target-time, --target-lsn, --target-name, --target-xid');
  if (i.targetTime !== undefined) {
    const text = i.targetTime.trim();
    if (!ZONED.test(text)) {
      throw new ConfigError(`--target-time "${text}" has no time zone`, {
        hint: 'write it with a zone, e.g. 2024-05-02T03:15:00Z or 2024-05-02 05:15:00+02:00',
      });
    }
    const time = new Date(text.replace(' ', 'T').replace(/\s+/g, ''));
    if (Number.isNaN(time.getTime())) throw new ConfigError(`--target-time "${text}" is not a valid time`);
    return { kind: 'time', value: time.toISOString(), time };
  }
  if (i.targetLsn !== undefined) return { kind: 'lsn', value: i.targetLsn, lsn: parseLsn(i.targetLsn) };
  if (i.targetName !== undefined) {
    if (i.targetName === '') throw new ConfigError('--target-name must not be empty');
    return { kind: 'name', value: i.targetName };
  }
  if (i.targetXid !== undefined) {
    if (!/^\d+$/.test(i.targetXid))
      throw new ConfigError(`--target-xid "${i.targetXid}" is not a transaction id`);
    return { kind: 'xid', value: i.targetXid };
  }
  return { kind: 'end' };
}

function confValue(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "''")}'`;
}

/** The lines appended to postgresql.auto.conf (read last, so they win over postgresql.conf). */
export function recoveryConf(o: {
  restoreCommand: string;
  target: RecoveryTarget;
  action: 'promote' | 'pause' | 'shutdown';
  id: string;
  port?: number | undefined;
  keepArchiving: boolean;
}): string {
  const lines = [
    `# dbops restore run ${o.id} --physical`,
    `restore_command = ${confValue(o.restoreCommand)}`,
    `recovery_target_timeline = 'latest'`,
  ];
  switch (o.target.kind) {
    case 'time':
      // PostgreSQL's recovery_target_time parser refuses ISO 8601's `T…Z` form.
      lines.push(`recovery_target_time = ${confValue(o.target.value.replace('T', ' ').replace('Z', '+00'))}`);
      break;
    case 'lsn':
      lines.push(`recovery_target_lsn = ${confValue(o.target.value)}`);
      break;
    case 'name':
      lines.push(`recovery_target_name = ${confValue(o.target.value)}`);
      break;
    case 'xid':
      lines.push(`recovery_target_xid = ${confValue(o.target.value)}`);
      break;
    case 'end':
      break;
  }
  if (o.target.kind !== 'end') lines.push(`recovery_target_action = ${confValue(o.action)}`);
  // A restored copy must not archive into the archive it came from: after promotion it would push
  // a new timeline's WAL and history next to the original's. Turn it back on for a real failover.
  if (!o.keepArchiving) lines.push(`archive_mode = 'off'`);
  if (o.port !== undefined) lines.push(`port = ${o.port}`);
  return `${lines.join('\n')}\n`;
}
