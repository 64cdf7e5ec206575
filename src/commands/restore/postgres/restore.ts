import { ConfigError } from '../../../errors.js';
import type { Logger, Progress } from '../../../logger.js';
import { withPostgres } from '../../../connections/postgres/handle.js';
import { quoteIdent } from '../../../connections/postgres/quote.js';
import type { ResolvedPostgresTarget } from '../../../connections/target.js';
import { postgresToolEnv } from '../../../connections/tool-env.js';
import type { Repository } from '../../../storage/repository.js';
import type { ReadPipelineOptions } from '../../../streams/pipeline.js';
import type { BackupManifest } from '../../backup/manifest.js';
import { pgRestoreArgs } from '../../backup/postgres/commands.js';
import { pgArchiveFormat, restorePostgresArchive } from '../../backup/postgres/restore.js';
import { checkCanDecrypt } from '../../backup/read-object.js';

export interface PostgresRestoreRunOptions {
  repo: Repository;
  manifest: BackupManifest;
  target: ResolvedPostgresTarget;
  read: ReadPipelineOptions;
  /** Database to restore into; default `<original>_<backup time>`, a new database. */
  database?: string;
  create: boolean;
  clean: boolean;
  jobs: number;
  noOwner: boolean;
  schemas: string[];
  tables: string[];
  dryRun: boolean;
  /** Asked before restoring over existing objects (--clean); throws to refuse. */
  confirm: (question: string) => Promise<void>;
  signal: AbortSignal;
  logger: Logger;
  progress: Progress;
  tempRoot?: string;
}

export interface PostgresRestoreRunResult {
  database: string;
  created: boolean;
  clean: boolean;
  mode: 'stream' | 'spool-file' | 'directory' | 'plan';
  singleTransaction: boolean;
  args: string[];
  /** `schema.table` whose data was restored while the archive was still being spooled. */
  earlyTable?: string;
  storedBytes: number;
  rawBytes: number;
}

/** `app` + backup `20240502T031500Z-7f3a9c` → `app_20240502t031500z` (≤ 63 bytes, PostgreSQL's limit). */
export function defaultRestoreDatabase(m: BackupManifest): string {
  const stamp = m.id.slice(0, 16).toLowerCase();
  const base = (m.target.database ?? 'restore').slice(0, 63 - stamp.length - 1);
  return `${base}_${stamp}`;
}

/** Objects of the database other than what every new database has. */
const USER_OBJECTS_SQL = `
  select count(*)::int as n from pg_catalog.pg_class c
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
  where n.nspname <> 'information_schema' and n.nspname !~ '^pg_'`;

/** CREATE DATABASE refused for a reason the operator can act on: say which database, where, and what to do. */
function createDatabaseError(database: string, where: string, err: unknown): unknown {
  const code = (err as { code?: unknown } | undefined)?.code;
  if (code !== '42501' && code !== '42P04') return err;
  return new ConfigError(`cannot create database ${database} on ${where}: ${(err as Error).message}`, {
    hint:
      code === '42501'
        ? 'grant the role CREATEDB, or create the database beforehand and restore into it with --database NAME'
        : 'another session created it meanwhile; restore into a new name with --database NAME --create',
    cause: err,
  });
}

/**
 * Restores a pg_dump backup into a database of `target`. Safe by default: into a new database
 * (created here, and dropped again if the restore fails), refusing a non-empty one unless --clean is
 * given and confirmed, and never before the identity is known to open the backup.
 */
export async function restorePostgresRun(o: PostgresRestoreRunOptions): Promise<PostgresRestoreRunResult> {
  const m = o.manifest;
  const format = pgArchiveFormat(m);
  const object = m.objects[0]!;
  const database = o.database ?? defaultRestoreDatabase(m);
  const create = o.create || o.database === undefined;
  if (o.jobs > 1 && o.tables.length === 0 && o.schemas.length === 0) {
    o.logger.debug(
      'parallel restore: the archive is spooled to a temp file first (pg_restore -j needs to seek)',
    );
  }

  return withPostgres(
    o.target,
    async (pg) => {
      const exists =
        (await pg.query('select 1 from pg_catalog.pg_database where datname = $1', [database])).rowCount ===
        1;
      let nonEmpty = false;
      if (exists) {
        nonEmpty = await withPostgres(
          o.target,
          async (db) => (await db.query<{ n: number }>(USER_OBJECTS_SQL)).rows[0]!.n > 0,
          { database },
        );
      } else if (!create) {
        throw new ConfigError(`database ${database} does not exist on ${pg.where}`, {
          hint: 'pass --create to create it, or leave --database out to restore into a new database',
        });
      }
      if (nonEmpty && !o.clean) {
        throw new ConfigError(`refusing to restore into ${database}: it is not empty`, {
          hint: "restore into a new database (leave --database out, or name a new one with --create), or pass --clean to drop and recreate the backup's objects there",
        });
      }
      const plannedArgs = pgRestoreArgs({
        database,
        format,
        jobs: o.jobs,
        singleTransaction: o.jobs <= 1,
        clean: o.clean && exists,
        noOwner: o.noOwner,
        schemas: o.schemas,
        tables: o.tables,
      });
      if (o.dryRun) {
        await checkCanDecrypt(o.repo, object, o.read);
        return {
          database,
          created: !exists,
          clean: o.clean && exists,
          mode: 'plan',
          singleTransaction: o.jobs <= 1,
          args: plannedArgs,
          storedBytes: object.stored.size,
          rawBytes: object.raw.size,
        };
      }
      if (nonEmpty)
        await o.confirm(
          `Restore backup ${m.id} over the existing objects of database ${database} on ${pg.where}?`,
        );
      // A wrong key must fail before a database is created.
      await checkCanDecrypt(o.repo, object, o.read);
      // The new database is made while the archive is read (CREATE DATABASE copies template1: ~45
      // ms); no pg_restore starts before it exists, and its failure stops the reading.
      const creation = new AbortController();
      const creating = exists
        ? Promise.resolve()
        : pg.query(`create database ${quoteIdent(database)}`).then(
            () => undefined,
            (err: unknown) => {
              const e = createDatabaseError(database, pg.where, err);
              creation.abort(e);
              throw e;
            },
          );
      creating.catch(() => {});
      try {
        const r = await restorePostgresArchive({
          repo: o.repo,
          manifest: m,
          object,
          read: o.read,
          env: postgresToolEnv(o.target, { database }),
          database,
          jobs: o.jobs,
          clean: o.clean && exists,
          noOwner: o.noOwner,
          schemas: o.schemas,
          tables: o.tables,
          signal: AbortSignal.any([o.signal, creation.signal]),
          progress: o.progress,
          newDatabase: !exists,
          databaseReady: creating,
          ...(o.tempRoot ? { tempRoot: o.tempRoot } : {}),
        });
        return {
          database,
          created: !exists,
          clean: o.clean && exists,
          mode: r.mode,
          singleTransaction: r.singleTransaction,
          args: r.args,
          ...(r.earlyTable ? { earlyTable: r.earlyTable } : {}),
          storedBytes: r.storedBytes,
          rawBytes: r.rawBytes,
        };
      } catch (err) {
        // A failed CREATE DATABASE is the error to report, and leaves nothing to drop (a database
        // of that name made meanwhile is not ours).
        await creating;
        if (!exists) {
          // We made it, it holds nothing trustworthy: leave no half-restored database behind.
          await pg
            .query(`drop database if exists ${quoteIdent(database)} with (force)`)
            .catch((dropErr: unknown) =>
              o.logger.warn(`could not drop ${database} after the failed restore`, {
                error: (dropErr as Error).message,
              }),
            );
        }
        throw err;
      }
    },
    { logger: o.logger },
  );
}
