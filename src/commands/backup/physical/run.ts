import { hostname } from 'node:os';
import { Readable } from 'node:stream';

import type { RepositoryConfig } from '../../../config/schema.js';
import { withPostgres } from '../../../connections/postgres/handle.js';
import { redactUrl } from '../../../connections/redact.js';
import type { ResolvedPostgresTarget } from '../../../connections/target.js';
import { postgresToolEnv } from '../../../connections/tool-env.js';
import { ConfigError, StorageError } from '../../../errors.js';
import { silentLogger, type Logger, type Progress, noProgress } from '../../../logger.js';
import { withRepository } from '../../../storage/open.js';
import type { Repository } from '../../../storage/repository.js';
import { formatCompression, parseCompression } from '../../../streams/compress.js';
import type { EncryptOptions } from '../../../streams/encrypt.js';
import type { ReadPipelineOptions } from '../../../streams/pipeline.js';
import { findPostgresTool } from '../../../tools/find-tool.js';
import { startTool } from '../../../tools/run-tool.js';
import { dbopsVersion } from '../../../version.js';
import { readArchiveInfo } from '../../wal/archive-info.js';
import { walFileKey } from '../../wal/layout.js';
import { DEFAULT_SEGMENT_SIZE } from '../../wal/segment.js';
import { segmentsForBackup } from '../../wal/status.js';
import { newBackupId } from '../ids.js';
import { IN_PROGRESS_NAME, backupKey, storedSuffix } from '../layout.js';
import { withWriterLease } from '../lease.js';
import {
  MANIFEST_FORMAT,
  MANIFEST_VERSION,
  manualRestoreLines,
  writeManifest,
  type BackupManifest,
} from '../manifest.js';
import type { BackupRunResult } from '../run-backup.js';
import { storeStream } from '../store-stream.js';
import { basebackupArgs, waitForBackupHistory } from './basebackup.js';

export interface PhysicalBackupOptions {
  target: ResolvedPostgresTarget;
  repository: { name: string; config: RepositoryConfig };
  compression?: string | { algorithm: 'zstd' | 'gzip' | 'none'; level?: number | undefined };
  encryption: EncryptOptions | null;
  labels?: Record<string, string>;
  /** Target name the WAL is archived under (default: the target's name). */
  walTarget?: string;
  /** How long to wait for the backup's WAL to be archived (default 120 s). */
  archiveTimeoutSeconds?: number;
  /** Opens encrypted WAL (the backup history file is read back from the archive). */
  read?: ReadPipelineOptions;
  now?: () => Date;
}

export interface PhysicalBackupResult extends BackupRunResult {
  physical: {
    startLsn: string;
    stopLsn: string;
    timeline: number;
    label: string;
    systemIdentifier: string;
    walSegments: string[];
    walWaitMs: number;
  };
}

/** `2024-05-02 03:15:00 UTC` (the server's log_timezone) → ISO, only when it is UTC; else undefined. */
function utcTime(text: string | undefined): string | undefined {
  const m = /^(\d{4}-\d{2}-\d{2}) (\d{2}:\d{2}:\d{2}) (UTC|GMT)$/.exec(text ?? '');
  return m ? new Date(`${m[1]}T${m[2]}Z`).toISOString() : undefined;
}

async function waitForWal(
  repo: Repository,
  walTarget: string,
  segments: string[],
  timeoutMs: number,
  signal: AbortSignal,
  logger: Logger,
): Promise<number> {
  const started = performance.now();
  const pending = new Set(segments);
  for (;;) {
    for (const s of [...pending]) if (await repo.head(walFileKey(walTarget, s))) pending.delete(s);
    if (pending.size === 0) return Math.round(performance.now() - started);
    if (performance.now() - started > timeoutMs) {
      throw new StorageError(
        `the WAL of this backup was not archived within ${Math.round(timeoutMs / 1000)} s: missing ${[...pending].join(', ')}`,
        {
          hint: 'check archive_command (dbops wal status, pg_stat_archiver); the backup does not count without its WAL and was not catalogued',
        },
      );
    }
    if (signal.aborted) throw signal.reason instanceof Error ? signal.reason : new Error('aborted');
    logger.debug(`waiting for ${pending.size} WAL segment(s) to be archived`);
    await new Promise((r) => setTimeout(r, 500));
  }
}

/**
 * A physical base backup: pg_basebackup's tar streamed through compress → encrypt → checksums into
 * the repository; the manifest (the commit point) is written only once every WAL segment from the
 * backup's start to its stop LSN is in the archive.
 */
export async function physicalBackupRun(
  o: PhysicalBackupOptions,
  deps: { logger?: Logger; progress?: Progress; signal?: AbortSignal } = {},
): Promise<PhysicalBackupResult> {
  const logger = deps.logger ?? silentLogger;
  const progress = deps.progress ?? noProgress;
  const now = o.now ?? (() => new Date());
  const spec = parseCompression(o.compression ?? 'zstd');
  const suffix = storedSuffix(spec.algorithm, o.encryption !== null);
  const walTarget = o.walTarget ?? o.target.name;

  const server = await withPostgres(
    o.target,
    async (pg) => {
      const r = (
        await pg.query<{
          version: string;
          num: number;
          sysid: string;
          archive_mode: string;
          recovery: boolean;
          segsize: string;
        }>(
          `select current_setting('server_version') as version, current_setting('server_version_num')::int as num,
                (select system_identifier::text from pg_control_system()) as sysid,
                current_setting('archive_mode') as archive_mode, pg_is_in_recovery() as recovery,
                current_setting('wal_segment_size') as segsize`,
        )
      ).rows[0]!;
      return r;
    },
    { logger, maxConnections: 1 },
  );
  if (server.archive_mode === 'off') {
    throw new ConfigError(
      `archive_mode is off on ${o.target.name}: a physical backup is useless without its WAL`,
      {
        hint: 'dbops wal setup --apply, then restart PostgreSQL',
      },
    );
  }
  const major = Math.floor(server.num / 10000);
  const tool = await findPostgresTool('pg_basebackup', { serverMajor: major });

  return withRepository(
    o.repository.name,
    o.repository.config,
    async (repo) =>
      withWriterLease(repo, { command: 'backup run --physical', logger, now }, async (lease) => {
        const signal = deps.signal ? AbortSignal.any([deps.signal, lease.signal]) : lease.signal;
        const startedAt = now();
        const started = performance.now();
        const id = newBackupId(startedAt);
        const label = `dbops ${id}`;
        const inProgressKey = backupKey(o.target.name, id, IN_PROGRESS_NAME);
        const dataKey = backupKey(o.target.name, id, `base.tar${suffix}`);
        const body = Buffer.from(
          JSON.stringify({ id, host: hostname(), pid: process.pid, startedAt: startedAt.toISOString() }),
        );
        await repo.put(inProgressKey, Readable.from([body]), {
          ifAbsent: true,
          contentLength: body.byteLength,
        });
        try {
          const args = basebackupArgs(label);
          const child = startTool('pg_basebackup', tool.path, args, {
            env: postgresToolEnv(o.target),
            stdout: 'pipe',
            signal,
          });
          progress.start('base backup');
          const stored = storeStream(repo, child.stdout!, {
            key: dataKey,
            content: 'tar/pg_basebackup',
            pipeline: { compression: spec, encryption: o.encryption },
            signal,
            onProgress: (raw) => progress.update(raw),
          });
          stored.catch(() => child.kill());
          const [s, d] = await Promise.allSettled([stored, child.done]);
          progress.stop();
          if (d.status === 'rejected') throw d.reason;
          if (s.status === 'rejected') throw s.reason;
          const object = s.value;
          const timeoutMs = (o.archiveTimeoutSeconds ?? 120) * 1000;
          const history = await waitForBackupHistory(
            repo,
            walTarget,
            label,
            o.read ?? {},
            timeoutMs,
            signal,
          ).catch((err: unknown) => {
            throw new StorageError((err as Error).message, {
              hint: 'check archive_command (dbops wal status, pg_stat_archiver); without its WAL the backup does not count',
              cause: err,
            });
          });
          const range = { startLsn: history.startLsn, stopLsn: history.stopLsn, timeline: history.timeline };
          const stoppedAt = now();
          const segmentSize =
            (await readArchiveInfo(repo, walTarget))?.segmentSize ??
            (Number(server.segsize) || DEFAULT_SEGMENT_SIZE);
          const walSegments = segmentsForBackup(range.timeline, range.startLsn, range.stopLsn, segmentSize);
          logger.info(
            `base backup done, waiting for WAL ${walSegments[0]}..${walSegments[walSegments.length - 1]}`,
          );
          const walWaitMs = await waitForWal(repo, walTarget, walSegments, timeoutMs, signal, logger);
          const finishedAt = now();
          const manifest: BackupManifest = {
            format: MANIFEST_FORMAT,
            version: MANIFEST_VERSION,
            id,
            kind: 'physical',
            engine: 'postgres',
            target: {
              name: o.target.name,
              where: o.target.url ? redactUrl(o.target.url) : 'libpq environment',
            },
            method: { tool: 'pg_basebackup', format: 'tar', args },
            startedAt: startedAt.toISOString(),
            finishedAt: finishedAt.toISOString(),
            server: { version: server.version, major, systemIdentifier: server.sysid },
            tool: { name: 'pg_basebackup', version: tool.version, path: tool.path },
            dbops: { version: dbopsVersion(), host: hostname() },
            objects: [object],
            rowCounts: null,
            labels: o.labels ?? {},
            physical: {
              ...range,
              label,
              stopTime: utcTime(history.stopTime) ?? stoppedAt.toISOString(),
              walTarget,
              segmentSize,
              walSegments: { first: walSegments[0]!, last: walSegments[walSegments.length - 1]! },
            },
            manualRestore: [],
          };
          manifest.manualRestore = [
            ...manualRestoreLines(manifest),
            `then: touch PGDATA/recovery.signal and set restore_command = 'dbops wal fetch %f %p' (WAL is under ${walTarget}/wal/)`,
          ];
          await writeManifest(repo, manifest);
          await repo.delete([inProgressKey]).catch(() => {});
          const durationMs = Math.round(performance.now() - started);
          return {
            id,
            dryRun: false,
            target: o.target.name,
            engine: 'postgres' as const,
            format: 'tar',
            repository: o.repository.name,
            location: repo.location,
            compression: formatCompression(spec),
            encryption: !o.encryption ? 'none' : 'passphrase' in o.encryption ? 'passphrase' : 'recipients',
            keys: [dataKey],
            rawBytes: object.raw.size,
            storedBytes: object.stored.size,
            durationMs,
            throughput: durationMs > 0 ? Math.round(object.raw.size / (durationMs / 1000)) : 0,
            physical: { ...range, label, systemIdentifier: server.sysid, walSegments, walWaitMs },
          };
        } catch (err) {
          await repo.delete([dataKey, inProgressKey]).catch(() => {});
          throw err;
        }
      }),
    logger,
  );
}
