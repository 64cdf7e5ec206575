import { hostname } from 'node:os';
import { Readable } from 'node:stream';

import type { RepositoryConfig } from '../../config/schema.js';
import { ChecksFailed } from '../../errors.js';
import { noProgress, silentLogger, type Logger, type Progress } from '../../logger.js';
import { withRepository } from '../../storage/open.js';
import type { Repository } from '../../storage/repository.js';
import type { ReadPipelineOptions } from '../../streams/pipeline.js';
import { findBackup, type VerificationRecord } from './catalogue.js';
import { VERIFICATION_NAME, backupKey } from './layout.js';
import type { BackupManifest } from './manifest.js';
import { ObjectDamaged, nullSink, readObject } from './read-object.js';

export interface BackupVerifyOptions {
  repository: { name: string; config: RepositoryConfig };
  id: string;
  target?: string;
  read: ReadPipelineOptions;
  /** Also restore into a throwaway sandbox cluster and compare row counts with the manifest. */
  restore?: boolean;
  /** Record the outcome next to the manifest (prune keeps the newest verified backup). Default true. */
  record?: boolean;
  tempDir?: string;
  now?: () => Date;
}

export interface VerifyCheck {
  name: string;
  ok: boolean;
  detail: string;
}

export interface BackupVerifyResult {
  id: string;
  target: string;
  ok: boolean;
  level: 'checksum' | 'restore';
  checks: VerifyCheck[];
  problems: string[];
  durationMs: number;
  rowCounts?: { table: string; expected: number | null; actual: number | null }[];
}

async function recordVerification(
  repo: Repository,
  m: BackupManifest,
  record: VerificationRecord,
  logger: Logger,
): Promise<void> {
  const body = Buffer.from(`${JSON.stringify({ ...record, host: hostname() }, null, 2)}\n`);
  try {
    await repo.put(backupKey(m.target.name, m.id, VERIFICATION_NAME), Readable.from([body]), {
      contentLength: body.byteLength,
    });
  } catch (err) {
    logger.warn('could not record the verification result in the repository', {
      error: (err as Error).message,
    });
  }
}

/**
 * Reads a backup back and checks it: the SHA-256 of every stored object and of its plaintext,
 * decryption (authenticated), decompression, the archive's table of contents (`pg_restore --list`),
 * and with `restore` a real restore into a throwaway cluster with per-table row counts compared.
 * Damage is reported as failed checks (exit 1, naming the object); a wrong key or an unreachable
 * repository is an error.
 */
export async function backupVerify(
  o: BackupVerifyOptions,
  deps: { logger?: Logger; progress?: Progress; signal?: AbortSignal } = {},
): Promise<BackupVerifyResult> {
  const logger = deps.logger ?? silentLogger;
  const progress = deps.progress ?? noProgress;
  const signal = deps.signal ?? new AbortController().signal;
  const started = performance.now();
  return withRepository(
    o.repository.name,
    o.repository.config,
    async (repo) => {
      const { manifest: m } = await findBackup(repo, o.id, o.target);
      const checks: VerifyCheck[] = [];
      const run = async (name: string, fn: () => Promise<string>): Promise<boolean> => {
        try {
          checks.push({ name, ok: true, detail: await fn() });
          return true;
        } catch (err) {
          if (!(err instanceof ChecksFailed)) throw err;
          checks.push({ name, ok: false, detail: err.message });
          return false;
        }
      };
      let intact = true;
      for (const object of m.objects) {
        const ok = await run(`object ${object.key}`, async () => {
          progress.start(`verify ${object.key.split('/').pop()}`, object.stored.size);
          try {
            if (m.engine === 'postgres' && m.kind === 'logical') {
              const { listPostgresArchive } = await import('./postgres/restore.js');
              const entries = await listPostgresArchive(repo, m, object, o.read, signal, o.tempDir).catch(
                (err: unknown) => {
                  if (
                    err instanceof Error &&
                    'tool' in err &&
                    (err as { tool: string }).tool === 'pg_restore'
                  ) {
                    throw new ObjectDamaged(
                      object.key,
                      `pg_restore --list rejects the archive: ${err.message}`,
                      { cause: err },
                    );
                  }
                  throw err;
                },
              );
              return `sha256 ok (stored ${object.stored.size} B, raw ${object.raw.size} B), pg_restore --list: ${entries} entries`;
            }
            await readObject(repo, object, nullSink(), {
              read: o.read,
              signal,
              onProgress: (s) => progress.update(s, object.stored.size),
            });
            return `sha256 ok (stored ${object.stored.size} B, raw ${object.raw.size} B)`;
          } finally {
            progress.stop();
          }
        });
        intact &&= ok;
      }
      let rowCounts: BackupVerifyResult['rowCounts'];
      if (o.restore && intact) {
        if (m.engine !== 'postgres') {
          checks.push({
            name: 'restore',
            ok: true,
            detail: 'skipped: restore drills run for PostgreSQL backups only',
          });
        } else {
          await run('restore into a sandbox', async () => {
            const { restoreIntoSandbox } = await import('./postgres/sandbox-restore.js');
            const r = await restoreIntoSandbox(repo, m, o.read, {
              signal,
              logger,
              progress,
              ...(o.tempDir ? { tempRoot: o.tempDir } : {}),
            });
            rowCounts = r.differences;
            if (r.differences.length > 0) {
              throw new ChecksFailed(
                `row counts differ from the manifest in ${r.differences.length} table(s): ${r.differences
                  .slice(0, 5)
                  .map((d) => `${d.table} expected ${d.expected ?? 'absent'}, got ${d.actual ?? 'absent'}`)
                  .join('; ')}`,
              );
            }
            return `restored in ${Math.round(r.ms)} ms; ${r.tables} table(s) with the recorded row counts`;
          });
        }
      }
      const problems = checks.filter((c) => !c.ok).map((c) => `${c.name}: ${c.detail}`);
      const ok = problems.length === 0;
      const level = o.restore ? 'restore' : 'checksum';
      if (o.record !== false) {
        await recordVerification(
          repo,
          m,
          { verifiedAt: (o.now?.() ?? new Date()).toISOString(), ok, level, problems },
          logger,
        );
      }
      return {
        id: m.id,
        target: m.target.name,
        ok,
        level,
        checks,
        problems,
        durationMs: Math.round(performance.now() - started),
        ...(rowCounts ? { rowCounts } : {}),
      };
    },
    logger,
  );
}
