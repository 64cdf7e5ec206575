import type { PostgresHandle } from '../../../connections/postgres/handle.js';
import { quoteIdent, quoteQualified } from '../../../connections/postgres/quote.js';
import { withRollback } from '../../../connections/postgres/scope.js';
import { ConfigError } from '../../../errors.js';
import type { RetentionPolicy } from '../policy.js';
import type { PolicyPlan, PolicyStatus } from '../types.js';
import { describeTable } from './introspect.js';
import { archiveColumns, buildBatchSql, createArchiveTableSql, eligibilitySql } from './sql.js';

/**
 * Rough rows/s per action on a small server, from the measurements behind issue 7 (keyset
 * batches of 1k–10k rows): for the estimate only, labelled as such.
 */
const TYPICAL_RATE = { delete: 200_000, 'archive-table': 150_000, 'archive-storage': 50_000 } as const;

interface PlanNode {
  'Node Type': string;
  'Relation Name'?: string;
  Plans?: PlanNode[];
}

function seqScans(node: PlanNode, out: string[] = []): string[] {
  if (node['Node Type'] === 'Seq Scan' && node['Relation Name']) out.push(node['Relation Name']);
  for (const child of node.Plans ?? []) seqScans(child, out);
  return out;
}

/**
 * What a run would do, changing nothing: every query runs in a read-only transaction that is
 * rolled back, and the batch statement is only EXPLAINed (which also validates `where`).
 */
export async function planPostgresPolicy(
  policy: RetentionPolicy,
  pg: PostgresHandle,
  targetName: string,
): Promise<PolicyPlan> {
  return pg.withClient((client) =>
    withRollback(
      client,
      async (c) => {
        const table = await describeTable(c, policy.relation, policy.ageColumn, policy.name);
        if (!table)
          throw new ConfigError(`retention policy ${policy.name}: table ${policy.relation} does not exist`);
        const warnings: string[] = [];
        const statements: string[] = [];
        let archive: { sql: string; columns: string[] } | undefined;
        let archiveTarget: string | undefined;
        if (policy.action === 'archive-table') {
          const info = await describeTable(c, policy.archiveTable!, undefined, policy.name);
          archive = {
            sql: quoteQualified(policy.archiveTable!),
            columns: info
              ? archiveColumns(table.columns, info.columns, policy.name, policy.archiveTable!)
              : table.columns.map((col) => col.name),
          };
          archiveTarget = info ? archive.sql : `${archive.sql} (created on first run)`;
          if (!info) {
            statements.push(createArchiveTableSql(policy.archiveTable!, table));
            await c.query(createArchiveTableSql(policy.archiveTable!, table));
          }
        }
        if (policy.action === 'archive-storage') {
          archiveTarget = `repository ${policy.repository ?? '(default)'}: ${targetName}/archive/${policy.name}/`;
        }
        const sql = buildBatchSql(policy, table, archive);
        let cutoff: string | null = null;
        if (policy.ageColumn && policy.olderThanInterval) {
          const type = table.columns.find((col) => col.name === policy.ageColumn)!.type;
          const { rows } = await c.query<{ cutoff: string }>(
            `select (now() - $1::interval)::${type}::text as cutoff`,
            [policy.olderThanInterval],
          );
          cutoff = rows[0]!.cutoff;
        }
        const elig = eligibilitySql(policy, table);
        let counts;
        try {
          const age = policy.ageColumn ? `t.${quoteIdent(policy.ageColumn)}` : undefined;
          counts = await c.query<{ n: string; oldest: string | null; newest: string | null }>(
            `select count(*)::bigint as n, ${age ? `min(${age})::text` : 'null'} as oldest,
                    ${age ? `max(${age})::text` : 'null'} as newest
               from ${table.sql} t${elig ? ` where ${elig}` : ''}`,
            [cutoff],
          );
        } catch (err) {
          throw new ConfigError(
            `retention policy ${policy.name}: the eligibility condition fails: ${(err as Error).message}`,
            {
              hint: 'check ageColumn and where in the policy',
              cause: err,
            },
          );
        }
        const eligible = Number(counts.rows[0]!.n);
        if (policy.action === 'archive-storage') statements.push(sql.selectFirst!, sql.deleteByKeys!);
        else statements.push(sql.firstBatch);
        const explained = await c.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
          `explain (format json) ${policy.action === 'archive-storage' ? sql.selectFirst! : sql.firstBatch}`,
          [cutoff, policy.batchSize],
        );
        const scans = seqScans(explained.rows[0]!['QUERY PLAN'][0].Plan);
        if (scans.length > 0) {
          const stats = await c.query<{ n: number }>(
            'select reltuples::float8 as n from pg_class where oid = $1',
            [table.oid],
          );
          if ((stats.rows[0]?.n ?? 0) > 10_000) {
            warnings.push(
              `the batch query scans ${scans.join(', ')} sequentially; add an index on ${policy.ageColumn ?? 'the key'} or check the where condition`,
            );
          }
        }
        if (!table.ageIndexed && policy.ageColumn) {
          warnings.push(
            `no btree index starts with ${policy.ageColumn}: the run walks the whole primary key once`,
          );
        }
        const estimatedBatches = Math.ceil(eligible / policy.batchSize);
        return {
          policy: policy.name,
          target: targetName,
          engine: 'postgres',
          relation: policy.relation,
          action: policy.action,
          eligible,
          oldest: counts.rows[0]!.oldest,
          newest: counts.rows[0]!.newest,
          cutoff: cutoff ?? undefined,
          walk: sql.walk.map((w) => w.name),
          batchSize: policy.batchSize,
          estimatedBatches,
          estimatedMs: Math.round(
            (eligible / TYPICAL_RATE[policy.action]) * 1000 + estimatedBatches * policy.pauseMs,
          ),
          statements: statements.map((s) => s.replace(/\s+/g, ' ').trim()),
          warnings,
          ...(archiveTarget ? { archiveTarget } : {}),
        } satisfies PolicyPlan;
      },
      // Not read-only: a missing archive table is created inside this transaction so that the
      // batch statement can be EXPLAINed; the rollback removes it again (DDL is transactional).
      { lockTimeout: policy.lockTimeoutMs, statementTimeout: policy.statementTimeoutMs },
    ),
  );
}

export async function statusPostgresPolicy(
  policy: RetentionPolicy,
  pg: PostgresHandle,
  targetName: string,
  graceMs: number,
): Promise<PolicyStatus> {
  return pg.withClient((client) =>
    withRollback(
      client,
      async (c) => {
        const table = await describeTable(c, policy.relation, policy.ageColumn, policy.name);
        if (!table)
          throw new ConfigError(`retention policy ${policy.name}: table ${policy.relation} does not exist`);
        const base = {
          policy: policy.name,
          target: targetName,
          relation: policy.relation,
          olderThan: policy.olderThanText,
        };
        if (!policy.ageColumn || !policy.olderThanInterval) {
          const { rows } = await c.query<{ n: string }>(
            `select count(*)::bigint as n from ${table.sql} t where ${eligibilitySql(policy, table)}`,
            [null],
          );
          const n = Number(rows[0]!.n);
          return { ...base, oldestAgeSeconds: null, oldest: null, rowsPastPolicy: n, violated: n > 0 };
        }
        const type = table.columns.find((col) => col.name === policy.ageColumn)!.type;
        const age = `t.${quoteIdent(policy.ageColumn)}`;
        const oldest = await c.query<{ oldest: string | null; age: number | null }>(
          `select min(${age})::text as oldest, extract(epoch from now() - min(${age})::timestamptz)::float8 as age
             from ${table.sql} t${policy.where ? ` where (${policy.where})` : ''}`,
        );
        const counts = await c.query<{ n: string; late: string }>(
          `select count(*)::bigint as n,
                  count(*) filter (where ${age} < ($1::${type} - $2 * interval '1 millisecond'))::bigint as late
             from ${table.sql} t where ${eligibilitySql(policy, table)}`,
          [await cutoffOf(c, policy.olderThanInterval, type), graceMs],
        );
        const n = Number(counts.rows[0]!.n);
        const late = Number(counts.rows[0]!.late);
        return {
          ...base,
          oldest: oldest.rows[0]!.oldest,
          oldestAgeSeconds: oldest.rows[0]!.age === null ? null : Math.round(oldest.rows[0]!.age),
          rowsPastPolicy: n,
          violated: late > 0,
          ...(late > 0
            ? { reason: `${late} row(s) older than ${policy.olderThanText}${graceMs ? ' + grace' : ''}` }
            : {}),
        };
      },
      { readOnly: true, statementTimeout: policy.statementTimeoutMs },
    ),
  );
}

async function cutoffOf(
  c: { query: PostgresHandle['query'] },
  interval: string,
  type: string,
): Promise<string> {
  const { rows } = await c.query<{ cutoff: string }>(
    `select (now() - $1::interval)::${type}::text as cutoff`,
    [interval],
  );
  return rows[0]!.cutoff;
}
