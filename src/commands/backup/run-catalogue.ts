import type { RepositoryConfig } from '../../config/schema.js';
import { silentLogger, type Logger } from '../../logger.js';
import { withRepository } from '../../storage/open.js';
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
      return {
        repository: repo.name,
        location: repo.location,
        backups: scan.backups.map(summarize),
        incomplete: scan.incomplete.length,
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
