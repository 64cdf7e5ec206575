import { readdir, stat, unlink } from 'node:fs/promises';
import { join } from 'node:path';

import type { PruneConfig, RepositoryConfig } from '../../config/schema.js';
import { silentLogger, type Logger } from '../../logger.js';
import { TEMP_SUFFIX } from '../../storage/keys.js';
import { LocalRepository } from '../../storage/local.js';
import { withRepository } from '../../storage/open.js';
import type { Repository } from '../../storage/repository.js';
import { scanCatalogue, type CatalogueScan } from './catalogue.js';
import { MANIFEST_NAME, backupKey, backupsPrefix } from './layout.js';
import { withWriterLease } from './lease.js';
import { hasAnyRule, selectPrune, type PruneDecision } from './prune-policy.js';

export interface BackupPruneOptions {
  repository: { name: string; config: RepositoryConfig };
  /** Only this target; every target in the repository when absent. */
  target?: string;
  /** Rules from the command line; when none is given, the repository's `prune:` config applies. */
  policy?: PruneConfig;
  dryRun?: boolean;
  /** Leftovers of backups that never completed are removed once older than this (default one day). */
  leftoverAgeMs?: number;
  now?: () => Date;
}

export interface PruneTargetResult {
  target: string;
  decisions: (Omit<PruneDecision, 'time'> & { time: string })[];
}

export interface BackupPruneResult {
  dryRun: boolean;
  repository: string;
  policy: PruneConfig;
  targets: PruneTargetResult[];
  /** Backups deleted (or that would be, with dryRun). */
  removed: string[];
  kept: number;
  /** Directories of backups that never completed, older than the leftover age. */
  leftovers: { target: string; id: string; objects: number }[];
  /** Objects in complete backups that their manifest no longer references (after a crashed rekey). */
  strayObjects: string[];
  /** WAL removed (or that would be) because no kept physical backup needs it. */
  wal?: import('../wal/prune.js').WalPruneResult;
}

export const LEFTOVER_AGE_MS = 86_400_000;

function effectivePolicy(o: BackupPruneOptions): PruneConfig {
  if (o.policy && hasAnyRule(o.policy)) return o.policy;
  return o.repository.config.prune ?? {};
}

/**
 * Applies a GFS retention policy per target, and removes what crashed backups left behind once it
 * is older than a day (a younger one may still be running elsewhere). Deleting a backup removes its
 * manifest first: an interrupted prune leaves an incomplete backup, never a manifest pointing at
 * missing data.
 */
export async function backupPrune(
  o: BackupPruneOptions,
  deps: { logger?: Logger } = {},
): Promise<BackupPruneResult> {
  const logger = deps.logger ?? silentLogger;
  const now = o.now ?? (() => new Date());
  const policy = effectivePolicy(o);
  return withRepository(
    o.repository.name,
    o.repository.config,
    async (repo) => {
      const work = async () => {
        const scan = await scanCatalogue(repo, o.target);
        const result = plan(
          scan,
          policy,
          now(),
          o.leftoverAgeMs ?? LEFTOVER_AGE_MS,
          o.dryRun ?? false,
          repo.name,
        );
        // Issue 4: WAL that no kept physical backup needs goes with the backups that needed it.
        const removedIds = new Set(result.removed);
        const { pruneWal } = await import('../wal/prune.js');
        result.wal = await pruneWal(
          repo,
          scan.backups.filter((b) => !removedIds.has(`${b.target}/${b.id}`)),
          { dryRun: true, target: o.target, logger },
        );
        if (o.dryRun) return result;
        for (const id of result.removed) {
          const entry = scan.backups.find((b) => `${b.target}/${b.id}` === id)!;
          const manifestKey = backupKey(entry.target, entry.id, MANIFEST_NAME);
          await repo.delete([manifestKey]);
          const rest: string[] = [];
          for await (const obj of repo.list(`${backupsPrefix(entry.target)}${entry.id}/`)) rest.push(obj.key);
          await repo.delete(rest);
          logger.info(`removed backup ${entry.id}`, { target: entry.target });
        }
        const cutoff = now().getTime() - (o.leftoverAgeMs ?? LEFTOVER_AGE_MS);
        for (const left of scan.incomplete.filter((d) => d.modified.getTime() < cutoff)) {
          await repo.delete(left.keys);
          await sweepLocalTemp(repo, `${backupsPrefix(left.target)}${left.id}`, cutoff);
          logger.info(`removed the leftovers of incomplete backup ${left.id}`, {
            target: left.target,
            objects: left.keys.length,
          });
        }
        if (result.strayObjects.length) await repo.delete(result.strayObjects);
        // After the backups: a crash in between leaves extra WAL, never a backup without its WAL.
        if (result.wal.removedKeys.length) await repo.delete(result.wal.removedKeys);
        return result;
      };
      return o.dryRun ? work() : withWriterLease(repo, { command: 'backup prune', logger, now }, work);
    },
    logger,
  );
}

function plan(
  scan: CatalogueScan,
  policy: PruneConfig,
  now: Date,
  leftoverAgeMs: number,
  dryRun: boolean,
  repository: string,
): BackupPruneResult {
  const byTarget = new Map<string, CatalogueScan['backups']>();
  for (const b of scan.backups) {
    const list = byTarget.get(b.target) ?? [];
    list.push(b);
    byTarget.set(b.target, list);
  }
  const targets: PruneTargetResult[] = [];
  const removed: string[] = [];
  let kept = 0;
  for (const [target, backups] of [...byTarget.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const decisions = selectPrune(
      backups.map((b) => ({
        id: b.id,
        time: new Date(b.manifest.finishedAt),
        verified: b.verification?.ok === true,
      })),
      policy,
      now,
    );
    for (const d of decisions) {
      if (d.keep) kept++;
      else removed.push(`${target}/${d.id}`);
    }
    targets.push({ target, decisions: decisions.map((d) => ({ ...d, time: d.time.toISOString() })) });
  }
  const cutoff = now.getTime() - leftoverAgeMs;
  return {
    dryRun,
    repository,
    policy,
    targets,
    removed,
    kept,
    leftovers: scan.incomplete
      .filter((d) => d.modified.getTime() < cutoff)
      .map((d) => ({ target: d.target, id: d.id, objects: d.keys.length })),
    strayObjects: scan.unreferenced.filter((u) => u.modified.getTime() < cutoff).map((u) => u.key),
  };
}

/**
 * A local repository writes each object to a hidden temp file before renaming it into place; a
 * killed backup leaves that file, which list() does not show. S3 keeps an incomplete multipart
 * upload instead (a bucket lifecycle rule AbortIncompleteMultipartUpload removes those).
 */
async function sweepLocalTemp(repo: Repository, dirKey: string, cutoff: number): Promise<void> {
  if (!(repo instanceof LocalRepository)) return;
  const dir = join(repo.root, ...dirKey.split('/'));
  let names: string[];
  try {
    names = await readdir(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (!name.endsWith(TEMP_SUFFIX)) continue;
    const file = join(dir, name);
    const st = await stat(file).catch(() => undefined);
    if (st && st.mtimeMs < cutoff) await unlink(file).catch(() => {});
  }
  await import('node:fs/promises').then((fs) => fs.rmdir(dir)).catch(() => {});
}
