import type { ResolvedPostgresTarget } from '../../connections/target.js';
import { silentLogger, type Logger } from '../../logger.js';
import { withRepository } from '../../storage/open.js';
import type { Repository } from '../../storage/repository.js';
import { walPrefix } from '../backup/layout.js';
import { parseDuration } from '../backup/prune-policy.js';
import { readArchiveInfo, type ArchiveInfo } from './archive-info.js';
import type { WalContext } from './context.js';
import { walNameOfKey } from './layout.js';
import {
  DEFAULT_SEGMENT_SIZE,
  nextSegment,
  parseLsn,
  parseWalFileName,
  segmentNumber,
  segmentOfLsn,
} from './segment.js';

export interface TimelineStatus {
  timeline: number;
  first: string;
  last: string;
  segments: number;
  /** Missing ranges inside [first, last]: `from`..`to` inclusive. */
  gaps: { from: string; to: string; count: number }[];
}

export interface BackupWalStatus {
  id: string;
  timeline: number;
  startLsn: string;
  stopLsn: string;
  finishedAt: string;
  /** Every segment from start to stop is archived (the backup can be restored). */
  restorable: boolean;
  missing: string[];
}

export interface WalStatusResult extends ArchiveSummary {
  target: string;
  repository: string;
  location: string;
  /** From the server, when it could be asked: `.ready` files waiting, pg_stat_archiver counters. */
  server:
    | { ready: number; failedCount: number; lastFailedWal: string | null; lastArchivedWal: string | null }
    | { error: string }
    | undefined;
  maxAgeSeconds: number | undefined;
  maxBacklog: number | undefined;
  problems: string[];
  ok: boolean;
}

export interface WalStatusOptions {
  ctx: WalContext;
  maxAge?: string;
  maxBacklog?: number;
  /** The live server to ask for its backlog (optional). */
  server?: ResolvedPostgresTarget;
  now?: () => Date;
}

interface ListedWal {
  name: string;
  modified: Date;
}

export async function listArchivedWal(repo: Repository, target: string): Promise<ListedWal[]> {
  const out: ListedWal[] = [];
  for await (const o of repo.list(walPrefix(target))) {
    const name = walNameOfKey(o.key);
    if (name) out.push({ name, modified: o.modified });
  }
  return out;
}

export function timelinesOf(names: string[], segmentSize: number): TimelineStatus[] {
  const byTli = new Map<number, string[]>();
  for (const n of names) {
    const f = parseWalFileName(n);
    if (f.kind !== 'segment') continue;
    const list = byTli.get(f.timeline) ?? [];
    list.push(n);
    byTli.set(f.timeline, list);
  }
  const out: TimelineStatus[] = [];
  for (const [timeline, list] of [...byTli.entries()].sort(([a], [b]) => a - b)) {
    list.sort();
    const gaps: TimelineStatus['gaps'] = [];
    for (let i = 1; i < list.length; i++) {
      const expected = nextSegment(list[i - 1]!, segmentSize);
      if (expected !== list[i]) {
        const count = Number(segmentNumber(list[i]!, segmentSize) - segmentNumber(expected, segmentSize));
        gaps.push({ from: expected, to: nextSegment(list[i]!, segmentSize, -1), count });
      }
    }
    out.push({ timeline, first: list[0]!, last: list[list.length - 1]!, segments: list.length, gaps });
  }
  return out;
}

/** Segments a physical backup needs: from the one holding its start LSN to the one holding its last byte. */
export function segmentsForBackup(
  timeline: number,
  startLsn: string,
  stopLsn: string,
  segmentSize: number,
): string[] {
  const first = segmentOfLsn(timeline, parseLsn(startLsn), segmentSize);
  const stop = parseLsn(stopLsn);
  const last = segmentOfLsn(timeline, stop > 0n ? stop - 1n : 0n, segmentSize);
  const out = [first];
  while (out[out.length - 1]! < last) out.push(nextSegment(out[out.length - 1]!, segmentSize));
  return out;
}

async function serverBacklog(
  target: ResolvedPostgresTarget,
  logger: Logger,
): Promise<WalStatusResult['server']> {
  try {
    const { withPostgres } = await import('../../connections/postgres/handle.js');
    return await withPostgres(
      target,
      async (pg) => {
        const ready = await pg.query<{ n: string }>(
          `select count(*) as n from pg_ls_archive_statusdir() where name like '%.ready'`,
        );
        const a = await pg.query<{
          failed_count: string;
          last_failed_wal: string | null;
          last_archived_wal: string | null;
        }>('select failed_count, last_failed_wal, last_archived_wal from pg_stat_archiver');
        return {
          ready: Number(ready.rows[0]?.n ?? 0),
          failedCount: Number(a.rows[0]?.failed_count ?? 0),
          lastFailedWal: a.rows[0]?.last_failed_wal ?? null,
          lastArchivedWal: a.rows[0]?.last_archived_wal ?? null,
        };
      },
      { logger, maxConnections: 1 },
    );
  } catch (err) {
    return { error: (err as Error).message };
  }
}

/** What the repository holds for one target's WAL: ranges, gaps, age, and which base backups it covers. */
export interface ArchiveSummary {
  archive: ArchiveInfo | undefined;
  timelines: TimelineStatus[];
  historyFiles: string[];
  newestSegment: string | undefined;
  newestArchivedAt: string | undefined;
  /** Seconds since the newest segment was archived. */
  ageSeconds: number | undefined;
  backups: BackupWalStatus[];
}

/** The archive side of `wal status`, also shown by `backup list`. */
export async function archiveSummary(repo: Repository, target: string, now: Date): Promise<ArchiveSummary> {
  const archive = await readArchiveInfo(repo, target);
  const segmentSize = archive?.segmentSize ?? DEFAULT_SEGMENT_SIZE;
  const listed = await listArchivedWal(repo, target);
  const segments = listed.filter((l) => parseWalFileName(l.name).kind === 'segment');
  const timelines = timelinesOf(
    segments.map((s) => s.name),
    segmentSize,
  );
  const names = new Set(segments.map((s) => s.name));
  const newest = segments.reduce<ListedWal | undefined>(
    (a, b) => (!a || b.modified > a.modified ? b : a),
    undefined,
  );
  const ageSeconds = newest
    ? Math.max(0, Math.round((now.getTime() - newest.modified.getTime()) / 1000))
    : undefined;

  const { scanCatalogue } = await import('../backup/catalogue.js');
  const scan = await scanCatalogue(repo, target);
  const backups: BackupWalStatus[] = [];
  for (const b of scan.backups) {
    const p = b.manifest.physical;
    if (b.manifest.kind !== 'physical' || !p) continue;
    const needed = segmentsForBackup(p.timeline, p.startLsn, p.stopLsn, segmentSize);
    const missing = needed.filter((n) => !names.has(n));
    backups.push({
      id: b.id,
      timeline: p.timeline,
      startLsn: p.startLsn,
      stopLsn: p.stopLsn,
      finishedAt: b.manifest.finishedAt,
      restorable: missing.length === 0,
      missing,
    });
  }
  return {
    archive,
    timelines,
    historyFiles: listed.filter((l) => l.name.endsWith('.history')).map((l) => l.name),
    newestSegment: [...names].sort().pop(),
    newestArchivedAt: newest?.modified.toISOString(),
    ageSeconds,
    backups,
  };
}

/**
 * What the archive holds per timeline, its gaps, how old the newest segment is (the RPO gate),
 * and whether each physical backup has its WAL. Exit 1 (ok: false) on a gap, a backup without
 * its WAL, an archive older than max-age, or a backlog above max-backlog.
 */
export async function walStatus(
  o: WalStatusOptions,
  deps: { logger?: Logger } = {},
): Promise<WalStatusResult> {
  const logger = deps.logger ?? silentLogger;
  const now = (o.now ?? (() => new Date()))();
  const ctx = o.ctx;
  const maxAge = o.maxAge ?? ctx.settings.maxAge;
  const maxBacklog = o.maxBacklog ?? ctx.settings.maxBacklog;
  return withRepository(
    ctx.repository.name,
    ctx.repository.config,
    async (repo) => {
      const summary = await archiveSummary(repo, ctx.target, now);
      const { ageSeconds, timelines, backups } = summary;
      const server = o.server ? await serverBacklog(o.server, logger) : undefined;

      const problems: string[] = [];
      const maxAgeSeconds = maxAge !== undefined ? parseDuration(maxAge) / 1000 : undefined;
      if (maxAgeSeconds !== undefined) {
        if (ageSeconds === undefined) problems.push('no WAL archived yet');
        else if (ageSeconds > maxAgeSeconds)
          problems.push(`the newest archived segment is ${ageSeconds} s old (max ${maxAge})`);
      }
      for (const t of timelines)
        for (const g of t.gaps)
          problems.push(`timeline ${t.timeline}: ${g.count} segment(s) missing, ${g.from}..${g.to}`);
      for (const b of backups)
        if (!b.restorable)
          problems.push(`backup ${b.id} lacks ${b.missing.length} WAL segment(s) (first ${b.missing[0]})`);
      if (server && 'ready' in server && maxBacklog !== undefined && server.ready > maxBacklog) {
        problems.push(
          `${server.ready} segments wait to be archived (max ${maxBacklog}): archiving is failing or too slow`,
        );
      }
      return {
        target: ctx.target,
        repository: ctx.repository.name,
        location: repo.location,
        ...summary,
        server,
        maxAgeSeconds,
        maxBacklog,
        problems,
        ok: problems.length === 0,
      };
    },
    logger,
  );
}
