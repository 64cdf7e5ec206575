import { randomBytes } from 'node:crypto';

import type { Config, RepositoryConfig } from '../../config/schema.js';
import {
  quoteIdent,
  withDatabase,
  withPostgres,
  type ResolvedPostgresTarget,
  type ResolvedTarget,
} from '../../connections/index.js';
import { ConfigError } from '../../errors.js';
import { silentLogger, type Logger, type Progress } from '../../logger.js';
import type { BackupRunResult } from '../backup/run-backup.js';
import { anonymizeCopy } from './run-copy.js';
import type { CopyResult } from './postgres/copy.js';

export interface AnonymizeDumpOptions {
  from: ResolvedTarget;
  /** Server that hosts the temporary masked database (default: the source's server). */
  scratch?: ResolvedTarget;
  config: Config;
  repository: { name: string; config: RepositoryConfig };
  /** Name the backup is catalogued under (default `<source>-anonymized`). */
  as?: string;
  jobs?: number;
  /** true/false forces encryption on/off; undefined follows the config. */
  encrypt?: boolean;
  compression?: string;
  env?: NodeJS.ProcessEnv;
}

export interface AnonymizeDumpResult {
  copy: CopyResult;
  backup: BackupRunResult;
  scratchDatabase: string;
}

/**
 * `dbops anonymize dump`: a masked copy into a temporary database, backed up by the normal backup
 * engine with the label anonymized=true (so `dbops restore` on staging takes it like any other
 * backup), then the temporary database is dropped — also when something failed.
 */
export async function anonymizeDump(
  options: AnonymizeDumpOptions,
  deps: { logger?: Logger; progress?: Progress; signal?: AbortSignal } = {},
): Promise<AnonymizeDumpResult> {
  const logger = deps.logger ?? silentLogger;
  const scratch = options.scratch ?? options.from;
  if (options.from.engine !== 'postgres' || scratch.engine !== 'postgres') {
    throw new ConfigError('anonymize dump supports PostgreSQL only');
  }
  const tempName = `dbops_anon_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`;
  const admin: ResolvedPostgresTarget = scratch;
  await withPostgres(admin, (pg) => pg.query(`create database ${quoteIdent(tempName)}`), { logger });
  try {
    const temp: ResolvedPostgresTarget = {
      ...withDatabase(admin, tempName),
      name: options.as ?? `${options.from.name}-anonymized`,
      production: false,
      replicas: [],
    };
    const copy = await anonymizeCopy(
      {
        from: options.from,
        to: temp,
        config: options.config.anonymize,
        jobs: options.jobs ?? 2,
        ...(options.env ? { env: options.env } : {}),
      },
      deps,
    );
    const [{ backupRun }, { resolveEncryptOptions }] = await Promise.all([
      import('../backup/run-backup.js'),
      import('../backup/encryption.js'),
    ]);
    const backup = await backupRun(
      {
        target: temp,
        repository: options.repository,
        encryption: resolveEncryptOptions(options.config.encryption, options.encrypt, options.env),
        labels: { anonymized: 'true', source: options.from.name, 'anonymize-key': copy.keyFingerprint },
        ...(options.compression ? { compression: options.compression } : {}),
      },
      deps,
    );
    return { copy, backup, scratchDatabase: tempName };
  } finally {
    await withPostgres(
      admin,
      (pg) => pg.query(`drop database if exists ${quoteIdent(tempName)} with (force)`),
      {
        logger,
      },
    ).catch((err: Error) =>
      logger.error(`could not drop the temporary database ${tempName}`, { error: err.message }),
    );
  }
}
