import { join } from 'node:path';

import type { ResolvedPostgresTarget } from '../../../connections/target.js';
import { describeTarget } from '../../../connections/target.js';
import { withPostgres } from '../../../connections/postgres/handle.js';
import { postgresToolEnv } from '../../../connections/tool-env.js';
import { findPostgresTool, listPostgresTools } from '../../../tools/find-tool.js';
import { withLargeStdoutBuffer } from '../../../tools/stdout-buffer.js';
import type { EngineBackupInput, EngineBackupResult } from '../engine.js';
import type { StoredObject } from '../manifest.js';
import { canPipeToZstd, storeDumpPiped } from '../store-piped.js';
import { storeStream } from '../store-stream.js';
import { tempSpaceError, withTempDir } from '../temp-dir.js';
import { pgDumpArgs, type PostgresDumpFormat } from './commands.js';
import { countRows, tableSizes } from './row-counts.js';

export interface PostgresBackupOptions {
  target: ResolvedPostgresTarget;
  format: PostgresDumpFormat;
  jobs: number;
  rowCounts: boolean;
}

export const POSTGRES_CONTENT = { custom: 'pg_dump/custom', directory: 'tar/pg_dump-directory' } as const;

/** Settled results, the first failure wins in the order given (the cause before its echoes). */
function firstFailure(results: PromiseSettledResult<unknown>[]): unknown {
  for (const r of results) if (r.status === 'rejected') return r.reason;
  return undefined;
}

/**
 * pg_dump of one database into the repository. Row counts are taken in the dump's own snapshot
 * (pg_export_snapshot + pg_dump --snapshot), so verify --restore can compare them exactly.
 */
export async function postgresBackup(
  o: PostgresBackupOptions,
  input: EngineBackupInput,
): Promise<EngineBackupResult> {
  const { logger, signal } = input;
  // Fixed costs overlap: tool discovery (`pg_dump --version` of every copy) and the zstd probe run
  // while the connection is made; findPostgresTool then picks from the cache.
  const discovering = listPostgresTools('pg_dump').catch(() => []);
  const direct = o.format === 'custom' ? canPipeToZstd(input.pipeline) : Promise.resolve(false);
  return withPostgres(
    o.target,
    async (pg) => {
      // One after the other: at once they would open a second connection (~40 ms of SCRAM and a
      // backend fork) for two sub-millisecond queries.
      const infoResult = await pg.query<{ version: string; num: number; db: string; size: number }>(
        `select current_setting('server_version') as version, current_setting('server_version_num')::int as num,
                current_database() as db, pg_database_size(current_database())::float8 as size`,
      );
      // needs pg_monitor or superuser; only physical backups depend on it
      const idResult = await pg
        .query<{ s: string }>('select system_identifier::text as s from pg_control_system()')
        .catch(() => undefined);
      const info = infoResult.rows[0]!;
      const systemIdentifier = idResult?.rows[0]?.s;
      const major = Math.floor(info.num / 10000);
      await discovering;
      const tool = await findPostgresTool('pg_dump', { serverMajor: major });
      const pipeDirect = await direct;
      const env = postgresToolEnv(o.target);

      return pg.withClient(
        async (client) => {
          // pg_export_snapshot cannot run in a subtransaction: try it first, and on failure (a
          // standby before PG 10, a pooler) start over with a plain transaction.
          let snapshot: string | undefined;
          await client.query('begin isolation level repeatable read read only');
          try {
            snapshot = (await client.query<{ s: string }>('select pg_export_snapshot() as s')).rows[0]?.s;
          } catch (err) {
            await client.query('rollback');
            await client.query('begin isolation level repeatable read read only');
            logger.warn('cannot export a snapshot; row counts are taken separately from the dump', {
              error: (err as Error).message,
            });
          }
          let countingPid: number | undefined;
          let countingSettled = false;
          try {
            // The counts run beside pg_dump, one serial cursor scan per table (a cursor never runs
            // in parallel). JIT is not worth it there: a large table's scan passes jit_above_cost,
            // and compiling cost ~110 ms of CPU per table (count(*) on 3M rows: 233 ms with JIT,
            // 120 ms without).
            if (o.rowCounts) {
              countingPid = (
                await client.query<{ pid: number }>(
                  "select set_config('jit', 'off', true), pg_backend_pid() as pid",
                )
              ).rows[0]?.pid;
            }
            // Queued before the counts on the same connection: a few milliseconds, beside pg_dump.
            const sizing = tableSizes(client).catch(() => undefined);
            const counting = o.rowCounts ? countRows(client, undefined, signal) : Promise.resolve(null);
            counting.then(
              () => (countingSettled = true),
              () => (countingSettled = true),
            );
            const args = pgDumpArgs({
              format: o.format,
              ...(snapshot ? { snapshot } : {}),
              ...(o.format === 'directory' ? { jobs: o.jobs, directory: '<dir>' } : {}),
            });
            await input.storageReady;
            let object: StoredObject;
            input.progress.start(
              o.format === 'custom' ? `pg_dump ${info.db}` : `pg_dump -Fd ${info.db}`,
              info.size,
            );
            try {
              object =
                o.format === 'custom'
                  ? await dumpCustom(tool.path, env, input, info.size, snapshot, pipeDirect)
                  : await dumpDirectory(tool.path, env, input, o.jobs, info.size, snapshot);
            } finally {
              input.progress.stop();
            }
            const tables = await counting;
            const tableBytes = await sizing;
            return {
              objects: [object],
              target: { name: o.target.name, where: describeTarget(o.target), database: info.db },
              method: {
                tool: 'pg_dump',
                format: o.format,
                ...(o.format === 'directory' ? { jobs: o.jobs } : {}),
                args,
              },
              server: { version: info.version, major, ...(systemIdentifier ? { systemIdentifier } : {}) },
              tool: { name: 'pg_dump', version: tool.version, path: tool.path },
              rowCounts: tables
                ? { method: snapshot ? ('snapshot' as const) : ('separate' as const), tables }
                : null,
              ...(tableBytes ? { tableBytes } : {}),
            };
          } finally {
            // A count still running when the dump failed or was interrupted (waiting on a table
            // lock, say) would hold up the rollback queued behind it, and with it the exit.
            if (!countingSettled && countingPid !== undefined) {
              await pg.query('select pg_cancel_backend($1)', [countingPid]).catch(() => {});
            }
            await client.query('rollback').catch(() => {});
          }
        },
        // The snapshot's transaction idles while pg_dump works: a server-wide idle timeout must not end it.
        { idleInTransactionTimeout: 0, statementTimeout: 0 },
      );
    },
    { logger },
  );
}

/**
 * The custom-format dump as one stored object. `piped`: pg_dump | zstd joined at the OS level, the
 * raw dump never passing through Node; otherwise pg_dump's stdout runs through the Node pipeline.
 */
async function dumpCustom(
  binary: string,
  env: Record<string, string>,
  input: EngineBackupInput,
  sizeHint: number,
  snapshot: string | undefined,
  piped: boolean,
): Promise<StoredObject> {
  const args = pgDumpArgs({ format: 'custom', ...(snapshot ? { snapshot } : {}) });
  const target = {
    key: input.keyFor(`db.dump${input.suffix}`),
    content: POSTGRES_CONTENT.custom,
    pipeline: input.pipeline,
    signal: input.signal,
    sizeHint,
  };
  // The archive leaves pg_dump in 1 MiB writes instead of 4 KiB ones (a pipe either way).
  const command = withLargeStdoutBuffer({ binary, args });
  if (piped) {
    return storeDumpPiped(
      input.repo,
      { tool: 'pg_dump', ...command, env },
      { ...target, onProgress: (stored) => input.progress.update(stored) },
    );
  }
  const { startTool } = await import('../../../tools/run-tool.js');
  const dump = startTool('pg_dump', command.binary, command.args, {
    env,
    stdout: 'pipe',
    signal: input.signal,
  });
  const storing = storeStream(input.repo, dump.stdout!, {
    ...target,
    onProgress: (raw) => input.progress.update(raw, sizeHint),
  });
  const [stored, dumped] = await Promise.allSettled([storing, dump.done]);
  if (stored.status === 'rejected') dump.kill();
  // pg_dump failing on its own ends its stdout cleanly: the object is stored but incomplete, and
  // only its exit status tells. Without a manifest it never counts.
  const failure = firstFailure([stored, dumped]);
  if (failure !== undefined) throw failure;
  return (stored as PromiseFulfilledResult<StoredObject>).value;
}

async function dumpDirectory(
  binary: string,
  env: Record<string, string>,
  input: EngineBackupInput,
  jobs: number,
  sizeHint: number,
  snapshot: string | undefined,
): Promise<StoredObject> {
  return withTempDir(
    'backup',
    async (tmp) => {
      const dir = join(tmp, 'dump');
      const args = pgDumpArgs({
        format: 'directory',
        jobs,
        directory: dir,
        ...(snapshot ? { snapshot } : {}),
      });
      const { startTool } = await import('../../../tools/run-tool.js');
      await startTool('pg_dump', binary, args, { env, stdout: 'ignore', signal: input.signal }).done.catch(
        (err: unknown) => {
          throw tempSpaceError(err, tmp, 'the directory-format dump');
        },
      );
      // tar-stream is loaded for directory dumps only (start-up time of the default custom format).
      const { packDirectory } = await import('./directory-tar.js');
      return storeStream(input.repo, packDirectory(dir), {
        key: input.keyFor(`db.tar${input.suffix}`),
        content: POSTGRES_CONTENT.directory,
        pipeline: input.pipeline,
        signal: input.signal,
        sizeHint,
        onProgress: (raw) => input.progress.update(raw, sizeHint),
      });
    },
    input.tempRoot,
  );
}
