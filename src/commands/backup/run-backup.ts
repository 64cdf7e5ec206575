import { hostname } from 'node:os';
import { Readable } from 'node:stream';

import type { RepositoryConfig } from '../../config/schema.js';
import type { ResolvedTarget } from '../../connections/target.js';
import { abortError, ConfigError } from '../../errors.js';
import { noProgress, silentLogger, type Logger, type Progress } from '../../logger.js';
import { withRepository } from '../../storage/open.js';
import type { Repository } from '../../storage/repository.js';
import type { EncryptOptions } from '../../streams/encrypt.js';
import { formatCompression, parseCompression } from '../../streams/compress.js';
import { dbopsVersion } from '../../version.js';
import type { EngineBackupInput, EngineBackupResult } from './engine.js';
import { newBackupId } from './ids.js';
import { IN_PROGRESS_NAME, backupKey, backupPrefix, storedSuffix } from './layout.js';
import { withWriterLease } from './lease.js';
import {
  MANIFEST_FORMAT,
  MANIFEST_VERSION,
  manualRestoreLines,
  writeManifest,
  type BackupManifest,
} from './manifest.js';

export interface BackupRunOptions {
  target: ResolvedTarget;
  repository: { name: string; config: RepositoryConfig };
  /** PostgreSQL archive format; default custom. */
  format?: 'custom' | 'directory';
  /** pg_dump -j for the directory format; default 2. */
  jobs?: number;
  /** `zstd`, `zstd:3`, `gzip`, `none`; default zstd (level 1). */
  compression?: string | { algorithm: 'zstd' | 'gzip' | 'none'; level?: number | undefined };
  encryption: EncryptOptions | null;
  labels?: Record<string, string>;
  /** Count rows per table in the dump's snapshot (for verify --restore). Default true. */
  rowCounts?: boolean;
  dryRun?: boolean;
  /** Where directory-format dumps are staged; default the OS temp directory. */
  tempDir?: string;
  now?: () => Date;
}

export interface BackupRunDeps {
  logger?: Logger;
  progress?: Progress;
  signal?: AbortSignal;
}

export interface BackupRunResult {
  id: string;
  dryRun: boolean;
  target: string;
  engine: 'postgres' | 'mongodb';
  format: string;
  repository: string;
  location: string;
  compression: string;
  encryption: 'none' | 'recipients' | 'passphrase';
  keys: string[];
  rawBytes: number;
  storedBytes: number;
  durationMs: number;
  /** Raw bytes per second. */
  throughput: number;
  tables?: number;
}

function encryptionKind(e: EncryptOptions | null): BackupRunResult['encryption'] {
  return !e ? 'none' : 'passphrase' in e ? 'passphrase' : 'recipients';
}

/** Labels as `K=V` pairs → object; keys are simple words so they survive every store. */
export function parseLabels(pairs: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of pairs) {
    const m = /^([A-Za-z0-9_.-]+)=(.*)$/.exec(pair);
    if (!m)
      throw new ConfigError(`invalid label "${pair}"`, {
        hint: 'labels are KEY=VALUE with KEY made of letters, digits, _ . -',
      });
    out[m[1]!] = m[2]!;
  }
  return out;
}

/**
 * The in-progress marker, not synced: nothing reads its content, and a backup directory without
 * a manifest is incomplete with or without it (the directory itself is still made durable).
 */
async function putMarker(repo: Repository, key: string, value: unknown): Promise<void> {
  const body = Buffer.from(`${JSON.stringify(value, null, 2)}\n`);
  await repo.put(key, Readable.from([body]), {
    ifAbsent: true,
    contentLength: body.byteLength,
    durable: false,
  });
}

/** The engine's part of one backup: dump and store the data objects. */
async function runEngine(
  target: ResolvedTarget,
  format: string,
  jobs: number,
  rowCounts: boolean,
  input: EngineBackupInput,
): Promise<EngineBackupResult> {
  if (target.engine === 'postgres') {
    const { postgresBackup } = await import('./postgres/backup.js');
    return postgresBackup({ target, format: format as 'custom' | 'directory', jobs, rowCounts }, input);
  }
  const { mongodbBackup } = await import('./mongodb/backup.js');
  return mongodbBackup(target, input);
}

/**
 * Makes one logical backup: dump → compress → encrypt → checksums → repository, then the manifest,
 * last. Holds the repository's writer lease throughout. On failure the objects written so far are
 * removed (best effort; prune removes what a crash leaves).
 */
export async function backupRun(
  options: BackupRunOptions,
  deps: BackupRunDeps = {},
): Promise<BackupRunResult> {
  const logger = deps.logger ?? silentLogger;
  const progress = deps.progress ?? noProgress;
  const now = options.now ?? (() => new Date());
  const target = options.target;
  const format = target.engine === 'mongodb' ? 'archive' : (options.format ?? 'custom');
  if (target.engine === 'mongodb' && options.format === 'directory') {
    throw new ConfigError('--format directory is for PostgreSQL; MongoDB backups are mongodump archives');
  }
  const jobs = options.jobs ?? 2;
  if (options.jobs !== undefined && options.jobs > 1 && format !== 'directory') {
    throw new ConfigError(
      '--jobs needs --format directory (pg_dump writes a custom-format archive with one process)',
    );
  }
  const spec = parseCompression(options.compression ?? 'zstd');
  const suffix = storedSuffix(spec.algorithm, options.encryption !== null);
  const base: Omit<
    BackupRunResult,
    'id' | 'keys' | 'rawBytes' | 'storedBytes' | 'durationMs' | 'throughput' | 'location'
  > = {
    dryRun: Boolean(options.dryRun),
    target: target.name,
    engine: target.engine,
    format,
    repository: options.repository.name,
    compression: formatCompression(spec),
    encryption: encryptionKind(options.encryption),
  };

  return withRepository(
    options.repository.name,
    options.repository.config,
    async (repo) => {
      if (options.dryRun) {
        const id = newBackupId(now());
        return {
          ...base,
          id,
          location: repo.location,
          keys: [backupPrefix(target.name, id)],
          rawBytes: 0,
          storedBytes: 0,
          durationMs: 0,
          throughput: 0,
        };
      }
      const startedAt = now();
      const started = performance.now();
      const id = newBackupId(startedAt);
      const written: string[] = [];
      const inProgressKey = backupKey(target.name, id, IN_PROGRESS_NAME);
      const stop = new AbortController();
      const signal = deps.signal ? AbortSignal.any([deps.signal, stop.signal]) : stop.signal;
      let letWrite!: () => void;
      let neverWrite!: (err: unknown) => void;
      const storageReady = new Promise<void>((resolve, reject) => {
        letWrite = resolve;
        neverWrite = reject;
      });
      storageReady.catch(() => {});
      const input: EngineBackupInput = {
        repo,
        keyFor: (name) => {
          const key = backupKey(target.name, id, name);
          written.push(key);
          return key;
        },
        pipeline: { compression: spec, encryption: options.encryption },
        suffix,
        signal,
        storageReady,
        logger,
        progress,
        ...(options.tempDir ? { tempRoot: options.tempDir } : {}),
      };
      // The engine connects, checks the server and takes its snapshot while the lease is taken
      // (reads only); it writes to the repository once storageReady resolves.
      const engine = runEngine(target, format, jobs, options.rowCounts ?? true, input);
      engine.catch(() => {});
      // The in-progress marker goes once the manifest is in place, beside the lease's release
      // rather than before it (one directory sync less on the way out; a marker beside a manifest
      // means nothing to list or prune).
      let removingMarker: Promise<void> | undefined;
      try {
        return await withWriterLease(repo, { command: 'backup run', logger, now }, async (lease) => {
          const onLost = () => stop.abort(lease.signal.reason);
          lease.signal.addEventListener('abort', onLost, { once: true });
          if (lease.signal.aborted) onLost();
          await putMarker(repo, inProgressKey, {
            id,
            host: hostname(),
            pid: process.pid,
            startedAt: startedAt.toISOString(),
          });
          try {
            letWrite();
            const result = await engine;
            const finishedAt = now();
            const manifest: BackupManifest = {
              format: MANIFEST_FORMAT,
              version: MANIFEST_VERSION,
              id,
              kind: 'logical',
              engine: target.engine,
              target: result.target,
              method: result.method,
              startedAt: startedAt.toISOString(),
              finishedAt: finishedAt.toISOString(),
              server: result.server,
              tool: result.tool,
              dbops: { version: dbopsVersion(), host: hostname() },
              objects: result.objects,
              rowCounts: result.rowCounts,
              ...(result.tableBytes ? { tableBytes: result.tableBytes } : {}),
              labels: options.labels ?? {},
              manualRestore: [],
            };
            manifest.manualRestore = manualRestoreLines(manifest);
            if (signal.aborted) throw abortError(signal);
            await writeManifest(repo, manifest);
            removingMarker = repo.delete([inProgressKey], { durable: false }).catch(() => {});
            const durationMs = Math.round(performance.now() - started);
            const rawBytes = result.objects.reduce((n, o) => n + o.raw.size, 0);
            return {
              ...base,
              id,
              location: repo.location,
              keys: result.objects.map((o) => o.key),
              rawBytes,
              storedBytes: result.objects.reduce((n, o) => n + o.stored.size, 0),
              durationMs,
              throughput: durationMs > 0 ? Math.round(rawBytes / (durationMs / 1000)) : 0,
              ...(result.rowCounts ? { tables: Object.keys(result.rowCounts.tables).length } : {}),
            };
          } catch (err) {
            // Without a manifest nothing here counts; removing it now spares prune the work.
            await repo.delete([...written, inProgressKey]).catch((cleanupErr: unknown) =>
              logger.warn('could not remove the incomplete backup; prune removes it later', {
                id,
                error: (cleanupErr as Error).message,
              }),
            );
            throw err;
          } finally {
            lease.signal.removeEventListener('abort', onLost);
          }
        });
      } catch (err) {
        // The lease or the marker failed, or the engine did: the engine stops (closing its
        // connection) before the error is reported.
        neverWrite(err);
        stop.abort(err);
        await engine.catch(() => {});
        throw err;
      } finally {
        await removingMarker;
      }
    },
    logger,
  );
}
