import { describe, expect, it } from 'vitest';

import { parseBackupHistory } from '../../src/commands/backup/physical/basebackup.js';
import { chooseBackup } from '../../src/commands/restore/physical/restore.js';
import { parseRecoveryTarget, recoveryConf } from '../../src/commands/restore/physical/targets.js';
import { parseFastArgs } from '../../src/commands/wal/fast-args.js';
import {
  formatLsn,
  nextSegment,
  parseLsn,
  parseWalFileName,
  readSegmentHeader,
  segmentOfLsn,
} from '../../src/commands/wal/segment.js';
import { segmentsForBackup, timelinesOf } from '../../src/commands/wal/status.js';

const MB16 = 16 * 1024 * 1024;

describe('WAL names and LSNs', () => {
  it('parses every WAL file kind', () => {
    expect(parseWalFileName('000000010000000000000002')).toMatchObject({ kind: 'segment', timeline: 1 });
    expect(parseWalFileName('00000002.history')).toMatchObject({ kind: 'history', timeline: 2 });
    expect(parseWalFileName('000000010000000000000002.00000028.backup')).toMatchObject({
      kind: 'backup',
      segment: '000000010000000000000002',
    });
    expect(parseWalFileName('0000000300000001000000A0.partial')).toMatchObject({
      kind: 'partial',
      timeline: 3,
    });
    expect(() => parseWalFileName('../etc/passwd')).toThrow(/not a WAL file name/);
  });

  it('steps across a log boundary and maps LSNs to segments', () => {
    expect(nextSegment('0000000100000000000000FF', MB16)).toBe('000000010000000100000000');
    expect(nextSegment('000000010000000100000000', MB16, -1)).toBe('0000000100000000000000FF');
    expect(segmentOfLsn(1, parseLsn('1/A0000028'), MB16)).toBe('0000000100000001000000A0');
    expect(formatLsn(parseLsn('16/b374d848'))).toBe('16/B374D848');
    expect(segmentsForBackup(1, '0/2000028', '0/4000000', MB16)).toEqual([
      '000000010000000000000002',
      '000000010000000000000003',
    ]);
    expect(segmentsForBackup(1, '0/2000028', '0/2000100', MB16)).toEqual(['000000010000000000000002']);
  });

  it('finds gaps per timeline', () => {
    const t = timelinesOf(
      [
        '000000010000000000000001',
        '000000010000000000000002',
        '000000010000000000000005',
        '000000020000000000000005',
      ],
      MB16,
    );
    expect(t[0]!.gaps).toEqual([
      { from: '000000010000000000000003', to: '000000010000000000000004', count: 2 },
    ]);
    expect(t[1]!.gaps).toEqual([]);
  });

  it('reads the long page header (PostgreSQL 15 layout)', () => {
    const b = Buffer.alloc(8192);
    b.writeUInt16LE(0xd110, 0);
    b.writeUInt16LE(0x0002, 2);
    b.writeUInt32LE(1, 4);
    b.writeBigUInt64LE(2n * BigInt(MB16), 8);
    b.writeBigUInt64LE(7312345678901234567n, 24);
    b.writeUInt32LE(MB16, 32);
    b.writeUInt32LE(8192, 36);
    expect(readSegmentHeader(b, 'x')).toMatchObject({
      magic: 0xd110,
      systemIdentifier: '7312345678901234567',
      segmentSize: MB16,
      timeline: 1,
    });
    expect(() => readSegmentHeader(Buffer.alloc(8192), 'zeros')).toThrow(/long page header/);
  });
});

describe('recovery targets', () => {
  it('requires a zone on times and one target at most', () => {
    expect(() => parseRecoveryTarget({ targetTime: '2024-05-02 03:15:00' })).toThrow(/no time zone/);
    expect(parseRecoveryTarget({ targetTime: '2024-05-02 05:15:00+02:00' })).toMatchObject({
      kind: 'time',
      value: '2024-05-02T03:15:00.000Z',
    });
    expect(() => parseRecoveryTarget({ targetName: 'a', targetXid: '5' })).toThrow(/at most one/);
    expect(parseRecoveryTarget({})).toEqual({ kind: 'end' });
  });

  it('writes recovery settings PostgreSQL accepts', () => {
    const conf = recoveryConf({
      restoreCommand: 'dbops wal fetch %f %p',
      target: parseRecoveryTarget({ targetTime: '2024-05-02T03:15:00Z' }),
      action: 'promote',
      id: 'x',
      keepArchiving: false,
    });
    expect(conf).toContain("recovery_target_time = '2024-05-02 03:15:00.000+00'");
    expect(conf).toContain("archive_mode = 'off'");
  });

  it('never chooses a backup newer than the target', () => {
    const b = (id: string, stopTime: string, stopLsn: string) =>
      ({
        id,
        target: 'm',
        manifest: {
          kind: 'physical',
          finishedAt: stopTime,
          physical: { startLsn: '0/1', stopLsn, timeline: 1, stopTime },
        },
      }) as never;
    const backups = [
      b('b1', '2024-01-01T00:00:00Z', '0/1000000'),
      b('b2', '2024-01-02T00:00:00Z', '0/5000000'),
    ];
    expect(
      chooseBackup(backups, 'latest', parseRecoveryTarget({ targetTime: '2024-01-01T12:00:00Z' })).id,
    ).toBe('b1');
    expect(chooseBackup(backups, 'latest', parseRecoveryTarget({})).id).toBe('b2');
    expect(chooseBackup(backups, 'latest', parseRecoveryTarget({ targetLsn: '0/6000000' })).id).toBe('b2');
    expect(() =>
      chooseBackup(backups, 'latest', parseRecoveryTarget({ targetTime: '2023-12-31T00:00:00Z' })),
    ).toThrow(/before the oldest/);
    expect(() =>
      chooseBackup(backups, 'b2', parseRecoveryTarget({ targetTime: '2024-01-01T12:00:00Z' })),
    ).toThrow(/ends after/);
  });
});

describe('backup history file and the fast argv path', () => {
  it('parses the .backup file PostgreSQL archives', () => {
    const text = `START WAL LOCATION: 0/6000028 (file 000000010000000000000006)\nSTOP WAL LOCATION: 0/6000138 (file 000000010000000000000006)\nCHECKPOINT LOCATION: 0/6000060\nBACKUP METHOD: streamed\nBACKUP FROM: primary\nSTART TIME: 2026-11-26 06:18:21 UTC\nLABEL: dbops 20261126T061821Z-7d80e0\nSTART TIMELINE: 1\nSTOP TIME: 2026-11-26 06:18:22 UTC\nSTOP TIMELINE: 1\n`;
    expect(parseBackupHistory(text)).toEqual({
      startLsn: '0/6000028',
      stopLsn: '0/6000138',
      timeline: 1,
      label: 'dbops 20261126T061821Z-7d80e0',
      startTime: '2026-11-26 06:18:21 UTC',
      stopTime: '2026-11-26 06:18:22 UTC',
    });
  });

  it('recognises wal push/fetch with global options anywhere, and leaves everything else to commander', () => {
    expect(
      parseFastArgs(['node', 'dbops', '--config', '/etc/d.yaml', 'wal', 'push', 'pg_wal/X']),
    ).toMatchObject({ command: 'push', positional: ['pg_wal/X'], config: '/etc/d.yaml' });
    expect(parseFastArgs(['node', 'dbops', 'wal', 'fetch', 'A', 'B', '--prefetch=4', '-q'])).toMatchObject({
      command: 'fetch',
      prefetch: 4,
      quiet: true,
    });
    expect(parseFastArgs(['node', 'dbops', 'wal', 'push', '--help'])).toBeUndefined();
    expect(parseFastArgs(['node', 'dbops', 'wal', 'status'])).toBeUndefined();
    expect(parseFastArgs(['node', 'dbops', 'wal', 'push'])).toBeUndefined();
    expect(parseFastArgs(['node', 'dbops', 'backup', 'wal', 'push', 'x'])).toBeUndefined();
    // The background worker's internal command; --skip belongs to it only.
    expect(
      parseFastArgs(['node', 'dbops', 'wal', 'push-worker', '--parallel', '4', '--skip', 'A', '/d/pg_wal']),
    ).toMatchObject({ command: 'push-worker', positional: ['/d/pg_wal'], parallel: 4, skip: 'A' });
    expect(parseFastArgs(['node', 'dbops', 'wal', 'push', '--skip', 'A', 'pg_wal/X'])).toBeUndefined();
  });
});

describe('WAL prune', () => {
  it('removes only WAL before the oldest kept base backup, and nothing without one', async () => {
    const { mkdtemp, rm } = await import('node:fs/promises');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const { LocalRepository } = await import('../../src/storage/local.js');
    const { pruneWal } = await import('../../src/commands/wal/prune.js');
    const dir = await mkdtemp(join(tmpdir(), 'dbops-walprune-'));
    try {
      const repo = new LocalRepository('t', { path: dir });
      const names = [
        '000000010000000000000001',
        '000000010000000000000002',
        '000000010000000000000003',
        '000000010000000000000002.00000028.backup',
        '00000002.history',
        '000000020000000000000003',
      ];
      for (const n of names) await repo.put(`main/wal/${n.slice(0, 8)}/${n}`, Buffer.from(n));
      expect((await pruneWal(repo, [], { dryRun: false })).removedKeys).toEqual([]);
      const kept = [
        {
          id: 'b',
          target: 'main',
          manifest: {
            kind: 'physical',
            physical: { startLsn: '0/3000028', stopLsn: '0/3000100', timeline: 1 },
          },
        },
      ] as never;
      const r = await pruneWal(repo, kept, { dryRun: false });
      expect(r.removedKeys.sort()).toEqual([
        'main/wal/00000001/000000010000000000000001',
        'main/wal/00000001/000000010000000000000002',
        'main/wal/00000001/000000010000000000000002.00000028.backup',
      ]);
      const left: string[] = [];
      for await (const o of repo.list('main/wal/')) left.push(o.key);
      expect(left).toEqual([
        'main/wal/00000001/000000010000000000000003',
        'main/wal/00000002/00000002.history',
        'main/wal/00000002/000000020000000000000003',
      ]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
