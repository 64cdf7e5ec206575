import type { AnonymizeConfig } from '../../config/sections/anonymize.js';
import { quoteIdent, quoteQualified, withPostgres, type ResolvedTarget } from '../../connections/index.js';
import { ConfigError } from '../../errors.js';
import { silentLogger, type Logger } from '../../logger.js';
import type { Repository } from '../../storage/index.js';
import { maskKeyFromEnv } from './keyed.js';
import { listErasures, type LedgerEntry } from './ledger.js';
import { parseTableName } from './names.js';
import { configHash, operatorName } from './receipt.js';
import { erasePostgres } from './run-subject.js';
import { subjectConfig } from './subject-plan.js';

export interface ReapplyOptions {
  config: AnonymizeConfig | undefined;
  /** Only erasures recorded at or after this instant (the backup's time); default all. */
  since?: Date;
  /** Target name the erasures were recorded under (the backup's source); default target.name. */
  ledgerTarget?: string;
  env?: NodeJS.ProcessEnv;
  logger?: Logger;
}

export interface ReapplyResult {
  ledgerEntries: number;
  /** Subjects found again in the restored database and erased again. */
  reapplied: { subjectKind: string; subjectRef: string; changed: number; auditId: string | null }[];
  /** Ledger entries with no matching row (deleted rows, or data newer than the backup). */
  notFound: number;
  warnings: string[];
}

/**
 * Re-applies recorded erasures after a restore, so people erased since the backup was taken do
 * not come back. The ledger holds only keyed HMACs of subject ids: the root table's key column is
 * scanned and each key's HMAC recomputed with the configured secret; matches are erased again
 * with the current rules, each in its own transaction with its own audit record.
 *
 * `dbops restore` calls this after a successful PostgreSQL restore:
 *   reapplyErasures(restoredTarget, repository, { config: config.anonymize, since: backup.startedAt,
 *                   ledgerTarget: backup.target })
 */
export async function reapplyErasures(
  target: ResolvedTarget,
  repository: Repository,
  options: ReapplyOptions,
): Promise<ReapplyResult> {
  const logger = options.logger ?? silentLogger;
  const result: ReapplyResult = { ledgerEntries: 0, reapplied: [], notFound: 0, warnings: [] };
  const config = options.config;
  if (!config || !config.ledger.enabled) return result;
  const entries = await listErasures(repository, options.ledgerTarget ?? target.name, options.since);
  result.ledgerEntries = entries.length;
  if (entries.length === 0) return result;
  const key = maskKeyFromEnv(config.secretEnv, options.env);
  if (!key.deterministic) {
    throw new ConfigError(
      `cannot re-apply ${entries.length} recorded erasure(s): ${config.secretEnv} is not set`,
      {
        hint: 'the ledger holds keyed hashes of subject ids; set the same secret that was used for the erasures',
      },
    );
  }
  if (target.engine !== 'postgres') {
    result.warnings.push(
      're-applying erasures is implemented for PostgreSQL only; MongoDB entries were left as they are',
    );
    return result;
  }
  const byKind = new Map<string, LedgerEntry[]>();
  for (const e of entries) {
    if (e.keyFingerprint !== key.fingerprint) {
      result.warnings.push(
        `ledger entry ${e.subjectRef.slice(0, 12)}… was made with another key (fingerprint ${e.keyFingerprint})`,
      );
      continue;
    }
    byKind.set(e.subjectKind, [...(byKind.get(e.subjectKind) ?? []), e]);
  }
  await withPostgres(
    target,
    async (pg) => {
      for (const [kind, list] of byKind) {
        const { subject } = subjectConfig(config, kind);
        const rootKey = Array.isArray(subject.root.key) ? subject.root.key[0]! : subject.root.key;
        const wanted = new Map(list.map((e) => [e.subjectRef, e]));
        const { rows } = await pg.query<{ k: string }>(
          `select distinct ${quoteIdent(rootKey)}::text as k from ${quoteQualified(parseTableName(subject.root.table))} where ${quoteIdent(rootKey)} is not null`,
        );
        const found: string[] = [];
        for (const r of rows) if (wanted.has(key.subjectRef(kind, r.k))) found.push(r.k);
        result.notFound += wanted.size - found.length;
        for (const id of found) {
          const { receipt } = await erasePostgres(
            pg,
            { config, kind, key, subjectId: id, reason: 're-applied after restore (erasure ledger)' },
            {
              operation: 'ANONYMIZE',
              target: target.name,
              subject: { kind, ref: key.subjectRef(kind, id) },
              dryRun: false,
              startedAt: new Date().toISOString(),
              operator: operatorName(undefined, options.env),
              reason: 're-applied after restore (erasure ledger)',
              configHash: configHash(config),
              keyFingerprint: key.fingerprint,
              deterministic: true,
              auditId: null,
              ledger: null,
              warnings: [],
            },
          );
          result.reapplied.push({
            subjectKind: kind,
            subjectRef: receipt.subject.ref,
            changed: receipt.totals.changed,
            auditId: receipt.auditId,
          });
          logger.info('re-applied an erasure', { subject: kind, changed: receipt.totals.changed });
        }
      }
    },
    { logger },
  );
  return result;
}
