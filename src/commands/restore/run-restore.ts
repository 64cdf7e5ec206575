import type { RepositoryConfig } from '../../config/schema.js';
import type { AnonymizeSection } from '../../config/sections/anonymize.js';
import { withDatabase } from '../../connections/postgres/handle.js';
import type { ResolvedPostgresTarget, ResolvedTarget } from '../../connections/target.js';
import { abortError, ConfigError } from '../../errors.js';
import { noProgress, silentLogger, type Logger, type Progress } from '../../logger.js';
import { withRepository } from '../../storage/open.js';
import type { ReadPipelineOptions } from '../../streams/pipeline.js';
import { findBackup } from '../backup/catalogue.js';

export interface RestoreRunOptions {
  repository: { name: string; config: RepositoryConfig };
  id: string;
  /** Where the backup was made from (narrows the catalogue search); any target when absent. */
  sourceTarget?: string;
  /** Where to restore to. */
  target: ResolvedTarget;
  read: ReadPipelineOptions;
  database?: string;
  create?: boolean;
  clean?: boolean;
  jobs?: number;
  noOwner?: boolean;
  schemas?: string[];
  tables?: string[];
  dryRun?: boolean;
  /** Asked before restoring over existing data; throws to refuse. Default: refuse. */
  confirm?: (question: string) => Promise<void>;
  tempDir?: string;
  /**
   * The config's anonymize section: erasures recorded in the repository's ledger after the
   * backup was taken are re-applied to the restored database before the restore counts as done,
   * so people erased since then do not come back from an old backup.
   */
  anonymize?: AnonymizeSection;
}

export interface RestoreRunResult {
  id: string;
  dryRun: boolean;
  engine: 'postgres' | 'mongodb';
  target: string;
  database: string | undefined;
  created: boolean;
  clean: boolean;
  mode: string;
  singleTransaction: boolean;
  args: string[];
  /** `schema.table` whose data was restored while the archive was still being spooled. */
  earlyTable?: string;
  storedBytes: number;
  rawBytes: number;
  durationMs: number;
  throughput: number;
  /** Erasures re-applied from the ledger (PostgreSQL; absent when no ledger is configured). */
  erasures?: { ledgerEntries: number; reapplied: number; notFound: number; warnings: string[] };
}

const refuse = async (question: string): Promise<void> => {
  throw new ConfigError(`${question} — refusing without confirmation`);
};

/**
 * Restores a logical backup. The checksum is verified while streaming; damage, a wrong key or a
 * tool failure leaves no half-restored new database behind.
 */
export async function restoreRun(
  o: RestoreRunOptions,
  deps: { logger?: Logger; progress?: Progress; signal?: AbortSignal } = {},
): Promise<RestoreRunResult> {
  const logger = deps.logger ?? silentLogger;
  const progress = deps.progress ?? noProgress;
  const signal = deps.signal ?? new AbortController().signal;
  const started = performance.now();
  const jobs = o.jobs ?? 1;
  try {
    return await restoreFromRepository(o, { logger, progress, signal, started, jobs });
  } catch (err) {
    // A cancelled step reports its own way (a pg_restore killed, a read cut short, even a
    // "damaged" stream): the cause is the interrupt (exit 130).
    if (signal.aborted) throw abortError(signal);
    throw err;
  }
}

async function restoreFromRepository(
  o: RestoreRunOptions,
  {
    logger,
    progress,
    signal,
    started,
    jobs,
  }: { logger: Logger; progress: Progress; signal: AbortSignal; started: number; jobs: number },
): Promise<RestoreRunResult> {
  return withRepository(
    o.repository.name,
    o.repository.config,
    async (repo) => {
      const { manifest } = await findBackup(repo, o.id, o.sourceTarget);
      if (manifest.kind !== 'logical') {
        throw new ConfigError(`backup ${manifest.id} is a ${manifest.kind} backup`, {
          hint: 'physical backups are restored with --physical --pgdata DIR',
        });
      }
      if (manifest.engine !== o.target.engine) {
        throw new ConfigError(
          `backup ${manifest.id} is a ${manifest.engine} backup; target ${o.target.name} is ${o.target.engine}`,
          {
            hint: 'choose a target of the same engine with --to-target',
          },
        );
      }
      const common = {
        id: manifest.id,
        dryRun: Boolean(o.dryRun),
        engine: manifest.engine,
        target: o.target.name,
      };
      const finish = <T extends { storedBytes: number; rawBytes: number }>(r: T) => {
        const durationMs = Math.round(performance.now() - started);
        return { durationMs, throughput: durationMs > 0 ? Math.round(r.rawBytes / (durationMs / 1000)) : 0 };
      };
      if (o.target.engine === 'postgres') {
        const { restorePostgresRun } = await import('./postgres/restore.js');
        const r = await restorePostgresRun({
          repo,
          manifest,
          target: o.target,
          read: o.read,
          ...(o.database !== undefined ? { database: o.database } : {}),
          create: o.create ?? false,
          clean: o.clean ?? false,
          jobs,
          noOwner: o.noOwner ?? false,
          schemas: o.schemas ?? [],
          tables: o.tables ?? [],
          dryRun: o.dryRun ?? false,
          confirm: o.confirm ?? refuse,
          signal,
          logger,
          progress,
          ...(o.tempDir ? { tempRoot: o.tempDir } : {}),
        });
        const result = { ...common, ...r, ...finish(r) };
        if (!o.dryRun && r.database && o.anonymize) {
          const { reapplyErasures } = await import('../anonymize/reapply.js');
          const re = await reapplyErasures(
            withDatabase(o.target as ResolvedPostgresTarget, r.database),
            repo,
            {
              config: o.anonymize,
              since: new Date(manifest.startedAt),
              ledgerTarget: manifest.target.name,
              logger,
            },
          );
          for (const w of re.warnings) logger.warn(w);
          if (re.ledgerEntries > 0) {
            logger.info(`re-applied ${re.reapplied.length} recorded erasure(s) to ${r.database}`);
          }
          return {
            ...result,
            erasures: {
              ledgerEntries: re.ledgerEntries,
              reapplied: re.reapplied.length,
              notFound: re.notFound,
              warnings: re.warnings,
            },
          };
        }
        return result;
      }
      const { restoreMongoRun } = await import('./mongodb/restore.js');
      const include = [...(o.tables ?? []), ...(o.schemas ?? []).map((s) => `${s}.*`)];
      const r = await restoreMongoRun({
        repo,
        manifest,
        target: o.target,
        read: o.read,
        ...(o.database !== undefined ? { database: o.database } : {}),
        drop: o.clean ?? false,
        include,
        dryRun: o.dryRun ?? false,
        signal,
        logger,
        progress,
        ...(o.tempDir ? { tempRoot: o.tempDir } : {}),
      });
      return {
        ...common,
        ...r,
        created: false,
        clean: o.clean ?? false,
        mode: 'stream',
        singleTransaction: false,
        ...finish(r),
      };
    },
    logger,
  );
}
