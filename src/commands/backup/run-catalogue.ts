import type { RepositoryConfig } from '../../config/schema.js';
import { silentLogger, type Logger } from '../../logger.js';
import { withRepository } from '../../storage/open.js';
import type { Repository } from '../../storage/repository.js';
import { findBackup, scanCatalogue, summarize, type BackupSummary } from './catalogue.js';
import type { BackupManifest } from './manifest.js';

export interface BackupListOptions {
  repository: { name: string; config: RepositoryConfig };
  /** Only this target's backups; all targets when absent. */
  target?: string;
}

export interface BackupListResult {
  repository: string;
  location: string;
  backups: BackupSummary[];
  /** Directories of backups that never completed (no manifest): not backups, shown for awareness. */
  incomplete: number;
  /** Per target with archived WAL: what `wal status` says of the archive (issue: PITR coverage at a glance). */
  wal: BackupListWal[];
}

export interface BackupListWal {
  target: string;
  timelines: { timeline: number; first: string; last: string; segments: number; missing: number }[];
  newestSegment: string | undefined;
  ageSeconds: number | undefined;
  /** Physical backups and whether every WAL segment from their start to their stop is archived. */
  backups: { id: string; restorable: boolean }[];
}

async function walSummaries(repo: Repository, targets: string[]): Promise<BackupListWal[]> {
  const { readArchiveInfo } = await import('../wal/archive-info.js');
  const { archiveSummary } = await import('../wal/status.js');
  const out: BackupListWal[] = [];
  for (const target of targets) {
    if (!(await readArchiveInfo(repo, target))) continue;
    const s = await archiveSummary(repo, target, new Date());
    out.push({
      target,
      timelines: s.timelines.map((t) => ({
        timeline: t.timeline,
        first: t.first,
        last: t.last,
        segments: t.segments,
        missing: t.gaps.reduce((n, g) => n + g.count, 0),
      })),
      newestSegment: s.newestSegment,
      ageSeconds: s.ageSeconds,
      backups: s.backups.map((b) => ({ id: b.id, restorable: b.restorable })),
    });
  }
  return out;
}

export async function backupList(
  o: BackupListOptions,
  deps: { logger?: Logger } = {},
): Promise<BackupListResult> {
  return withRepository(
    o.repository.name,
    o.repository.config,
    async (repo) => {
      const scan = await scanCatalogue(repo, o.target);
      const backups = scan.backups.map(summarize);
      const targets = o.target ? [o.target] : [...new Set(backups.map((b) => b.target))].sort();
      return {
        repository: repo.name,
        location: repo.location,
        backups,
        incomplete: scan.incomplete.length,
        wal: await walSummaries(repo, targets),
      };
    },
    deps.logger ?? silentLogger,
  );
}

export interface BackupInfoResult extends BackupSummary {
  repository: string;
  manifest: BackupManifest;
}

export async function backupInfo(
  o: BackupListOptions & { id: string },
  deps: { logger?: Logger } = {},
): Promise<BackupInfoResult> {
  return withRepository(
    o.repository.name,
    o.repository.config,
    async (repo) => {
      const entry = await findBackup(repo, o.id, o.target);
      return { ...summarize(entry), repository: repo.name, manifest: entry.manifest };
    },
    deps.logger ?? silentLogger,
  );
}
