import { writeFile } from 'node:fs/promises';

import type { AnonymizeConfig } from '../../config/sections/anonymize.js';
import type { RepositoryConfig } from '../../config/schema.js';
import {
  describeTarget,
  withPostgres,
  withTransaction,
  withRollback,
  type PostgresHandle,
  type ResolvedPostgresTarget,
  type ResolvedTarget,
} from '../../connections/index.js';
import { ConfigError } from '../../errors.js';
import { silentLogger, type Logger } from '../../logger.js';
import { withRepository, type Repository } from '../../storage/index.js';
import { maskKeyFromEnv, type MaskKey } from './keyed.js';
import { recordErasure } from './ledger.js';
import { eraseMongoSubject } from './mongodb/subject.js';
import { assertNoProblems, buildMaskingPlan } from './plan.js';
import { writeAuditRecord } from './postgres/audit.js';
import { readCatalog } from './postgres/catalog.js';
import { erasePostgresSubject } from './postgres/subject.js';
import { canonicalJson, configHash, operatorName, sha256Hex, type ErasureReceipt } from './receipt.js';
import { ruleForHash } from './rules.js';
import { subjectConfig, subjectTables, type SubjectTable } from './subject-plan.js';
import type { MaskingPlan } from './plan.js';

export interface AnonymizeSubjectOptions {
  target: ResolvedTarget;
  config: AnonymizeConfig;
  subjectId: string;
  /** Subject name from `anonymize.subjects` (default: defaultSubject, or the only one). */
  subject?: string;
  reason?: string;
  dryRun?: boolean;
  /** Write the receipt JSON here too. */
  receiptPath?: string;
  operator?: string;
  /** Dry run: changed rows shown per table. */
  sampleSize?: number;
  /** Where the erasure ledger goes; omitted or ledger.enabled false → no ledger entry. */
  repository?: { name: string; config: RepositoryConfig } | Repository;
  /** Name the ledger is kept under (default the target's name). */
  ledgerTarget?: string;
  env?: NodeJS.ProcessEnv;
  /** Lock wait before giving up (default 10 s): an erasure must not queue behind a long job forever. */
  lockTimeout?: string;
}

export interface AnonymizeDeps {
  logger?: Logger;
  signal?: AbortSignal;
}

function requireConfig(config: AnonymizeConfig | undefined): AnonymizeConfig {
  if (!config)
    throw new ConfigError('the config has no anonymize section', {
      hint: 'see docs/anonymize.md for an example',
    });
  return config;
}

/** Hash of the rules that apply to this subject's tables: what the audit and ledger pin. */
function rulesHashOf(plan: MaskingPlan | undefined, config: AnonymizeConfig, tables: SubjectTable[]): string {
  const parts = tables.map((t) => {
    const tp = plan?.tables.get(t.key);
    const cfg = tp?.config ?? config.tables[t.name];
    return {
      table: t.key,
      keys: t.keys,
      erase: cfg?.erase ?? 'mask',
      columns: tp
        ? tp.columns.filter((c) => c.rule).map((c) => [c.column.name, ruleForHash(c.rule!)])
        : Object.entries(cfg?.columns ?? {}).sort(([a], [b]) => a.localeCompare(b)),
    };
  });
  return sha256Hex(canonicalJson(parts));
}

/** `dbops anonymize subject ID`: erase one data subject everywhere, with evidence. */
export async function anonymizeSubject(
  options: AnonymizeSubjectOptions,
  deps: AnonymizeDeps = {},
): Promise<ErasureReceipt> {
  const config = requireConfig(options.config);
  const logger = deps.logger ?? silentLogger;
  const key = maskKeyFromEnv(config.secretEnv, options.env);
  const { kind } = subjectConfig(config, options.subject);
  if (options.subjectId === '') throw new ConfigError('the subject id is empty');
  const warnings: string[] = [];
  if (!key.deterministic) {
    warnings.push(
      `${config.secretEnv} is not set: the subject reference in the audit and ledger is keyed with a one-off key, so a restore cannot re-apply this erasure`,
    );
  }
  const started = new Date();
  const base = {
    operation: 'ANONYMIZE' as const,
    target: options.target.name,
    subject: { kind, ref: key.subjectRef(kind, options.subjectId) },
    dryRun: options.dryRun ?? false,
    startedAt: started.toISOString(),
    operator: operatorName(options.operator, options.env),
    reason: options.reason ?? null,
    configHash: configHash(config),
    keyFingerprint: key.fingerprint,
    deterministic: key.deterministic,
    auditId: null,
    ledger: null,
    warnings,
  };

  let receipt: ErasureReceipt;
  let root: { table: string; key: string };
  if (options.target.engine === 'postgres') {
    const result = await withPostgres(
      options.target,
      (pg) => erasePostgres(pg, { ...options, config, kind, key }, base),
      { logger },
    );
    receipt = result.receipt;
    root = result.root;
  } else {
    const tables = subjectTables(subjectConfig(config, kind).subject, 'mongodb');
    const r = await eraseMongoSubject(options.target, {
      config,
      tables,
      key,
      subjectId: options.subjectId,
      subjectRef: base.subject.ref,
      dryRun: base.dryRun,
      sampleSize: options.sampleSize ?? 3,
      logger,
    });
    const finished = new Date();
    receipt = {
      ...base,
      engine: 'mongodb',
      target: `${options.target.name} (${describeTarget(options.target)})`,
      atomicity: r.atomicity,
      finishedAt: finished.toISOString(),
      durationMs: finished.getTime() - started.getTime(),
      rulesHash: rulesHashOf(undefined, config, tables),
      tables: r.tables,
      totals: totals(r.tables),
      warnings: [...warnings, ...r.warnings],
    };
    root = { table: tables.at(-1)!.name, key: tables.at(-1)!.keys[0]! };
  }

  if (receipt.totals.matched === 0) {
    receipt.warnings.push(
      'no rows of this subject were found: nothing to erase (wrong id, or already deleted)',
    );
  }
  if (!receipt.dryRun && config.ledger.enabled && options.repository) {
    try {
      const write = (repo: Repository) =>
        recordErasure(repo, {
          target: options.ledgerTarget ?? options.target.name,
          subjectKind: kind,
          subjectRef: receipt.subject.ref,
          keyFingerprint: key.fingerprint,
          root,
          erasedAt: receipt.finishedAt,
          rulesHash: receipt.rulesHash,
        }).then((k) => ({ key: k, repository: repo.name }));
      const repo = options.repository;
      receipt.ledger =
        'put' in repo ? await write(repo) : await withRepository(repo.name, repo.config, write, logger);
    } catch (err) {
      // The erasure is committed; losing the ledger entry only weakens re-application after restore.
      receipt.warnings.push(`the erasure ledger could not be written: ${(err as Error).message}`);
      logger.error('erasure committed but the ledger entry failed', { error: (err as Error).message });
    }
  }
  for (const w of receipt.warnings) logger.warn(w);
  if (options.receiptPath)
    await writeFile(options.receiptPath, `${JSON.stringify(receipt, null, 2)}\n`, { mode: 0o600 });
  return receipt;
}

function totals(tables: ErasureReceipt['tables']): ErasureReceipt['totals'] {
  return {
    matched: tables.reduce((n, t) => n + t.matched, 0),
    changed: tables.reduce((n, t) => n + t.changed, 0),
  };
}

type Base = Omit<
  ErasureReceipt,
  'engine' | 'atomicity' | 'finishedAt' | 'durationMs' | 'rulesHash' | 'tables' | 'totals'
>;

/** The PostgreSQL erasure in one transaction (rolled back for a dry run); reused by reapplyErasures. */
export async function erasePostgres(
  pg: PostgresHandle,
  options: Omit<AnonymizeSubjectOptions, 'config' | 'target'> & {
    config: AnonymizeConfig;
    kind: string;
    key: MaskKey;
  },
  base: Base,
): Promise<{ receipt: ErasureReceipt; root: { table: string; key: string } }> {
  const { subject } = subjectConfig(options.config, options.kind);
  const tables = subjectTables(subject, 'postgres');
  const catalog = await readCatalog(pg.pool);
  const plan = buildMaskingPlan(catalog, options.config);
  validateSubjectTables(plan, tables);
  assertNoProblems(
    { ...plan, problems: plan.problems.filter((p) => p.kind !== 'missing-table') },
    `subject ${options.kind}`,
    new Set(tables.map((t) => t.key)),
  );
  const rulesHash = rulesHashOf(plan, options.config, tables);
  const started = Date.parse(base.startedAt);
  const run = async (client: import('pg').PoolClient) => {
    // Text forms of dates are parsed in Node: pin them.
    await client.query(
      `select set_config('TimeZone', 'UTC', true), set_config('DateStyle', 'ISO, YMD', true)`,
    );
    const tablesOut = await erasePostgresSubject(client, {
      catalog,
      plan,
      tables,
      key: options.key,
      subjectId: options.subjectId,
      subjectRef: base.subject.ref,
      sampleSize: options.dryRun ? (options.sampleSize ?? 3) : 0,
    });
    const finished = new Date();
    const receipt: ErasureReceipt = {
      ...base,
      engine: 'postgres',
      target: `${pg.target.name} (${pg.where})`,
      atomicity: 'transaction',
      finishedAt: finished.toISOString(),
      durationMs: finished.getTime() - started,
      rulesHash,
      tables: tablesOut,
      totals: totals(tablesOut),
    };
    if (!options.dryRun) receipt.auditId = await writeAuditRecord(client, options.config.auditTable, receipt);
    return receipt;
  };
  const settings = { lockTimeout: options.lockTimeout ?? '10s' };
  const receipt = await pg.withClient((client) =>
    options.dryRun ? withRollback(client, run, settings) : withTransaction(client, run, settings),
  );
  const rootTable = tables.at(-1)!;
  return { receipt, root: { table: rootTable.key, key: rootTable.keys[0]! } };
}

function validateSubjectTables(plan: MaskingPlan, tables: SubjectTable[]): void {
  const problems: string[] = [];
  for (const t of tables) {
    const tp = plan.tables.get(t.key);
    if (!tp) {
      problems.push(`${t.name}: table does not exist`);
      continue;
    }
    for (const k of t.keys) {
      if (!tp.table.columns.some((c) => c.name === k))
        problems.push(`${t.key}.${k}: subject key column does not exist`);
    }
    if (!tp.config)
      problems.push(`${t.key}: no rules in anonymize.tables (add erase: delete-row or column rules)`);
  }
  if (problems.length)
    throw new ConfigError('the subject configuration does not fit the database', { problems });
}

export type { ResolvedPostgresTarget };
