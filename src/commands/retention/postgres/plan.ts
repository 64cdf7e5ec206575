import type { PostgresHandle } from '../../../connections/postgres/handle.js';
import { quoteIdent, quoteQualified } from '../../../connections/postgres/quote.js';
import { withRollback } from '../../../connections/postgres/scope.js';
import { ConfigError } from '../../../errors.js';
import type { RetentionPolicy } from '../policy.js';
import type { PolicyPlan, PolicyStatus } from '../types.js';
import { describeTable, rowsPerPageOf } from './introspect.js';
import { eligibilitySql } from './sql.js';
import { preparePolicy } from './prepare.js';

/**
 * Rough rows/s per action on a small server, from the measurements behind issue 7 (keyset
 * batches of 1k–10k rows): for the estimate only, labelled as such.
 */
const TYPICAL_RATE = { delete: 200_000, 'archive-table': 150_000, 'archive-storage': 50_000 } as const;
const PAGE_WALK_RATE = { delete: 500_000, 'archive-table': 250_000, 'archive-storage': 50_000 } as const;

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
        const warnings: string[] = [];
        const statements: string[] = [];
        const { table, sql, cutoff, walkReason, archiveCreated } = await preparePolicy(
          policy,
          c,
          async (ddl) => {
            statements.push(ddl);
            await c.query(ddl);
          },
        );
        let archiveTarget: string | undefined;
        if (policy.action === 'archive-table') {
          const name = quoteQualified(policy.archiveTable!);
          archiveTarget = archiveCreated ? `${name} (created on first run)` : name;
        }
        if (policy.action === 'archive-storage') {
          archiveTarget = `repository ${policy.repository ?? '(default)'}: ${targetName}/archive/${policy.name}/`;
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
        const pages = sql.mode === 'pages';
        const batchStatement =
          policy.action === 'archive-storage' ? sql.selectFirst! : pages ? sql.pageBatch! : sql.firstBatch!;
        statements.push(batchStatement);
        if (policy.action === 'archive-storage') statements.push(sql.deleteByKeys!);
        // EXPLAIN also checks the statement against the server (a bad `where` fails here).
        const explained = await c.query<{ 'QUERY PLAN': [{ Plan: PlanNode }] }>(
          `explain (format json) ${batchStatement}`,
          pages ? [cutoff, '(0,0)', '(1,0)'] : [cutoff, policy.batchSize],
        );
        const scans = seqScans(explained.rows[0]!['QUERY PLAN'][0].Plan);
        // A page walk reads every page by design; reltuples comes with the table (introspect.ts).
        if (scans.length > 0 && !pages && table.rowsPerPage * table.pages > 10_000) {
          warnings.push(
            `the batch query scans ${scans.join(', ')} sequentially; add an index on ${policy.ageColumn ?? 'the key'} or check the where condition`,
          );
        }
        if (!table.ageIndexed && policy.ageColumn && !pages) {
          warnings.push(
            `no btree index starts with ${policy.ageColumn}: the run walks the whole primary key once`,
          );
        }
        // A page walk reads every page; its batches are counted at the table's density.
        const estimatedBatches = pages
          ? Math.ceil(table.pages / Math.ceil(policy.batchSize / rowsPerPageOf(table)))
          : Math.ceil(eligible / policy.batchSize);
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
          walkMode: sql.mode,
          walkReason,
          batchSize: policy.batchSize,
          estimatedBatches,
          estimatedMs: Math.round(
            (eligible / (pages ? PAGE_WALK_RATE[policy.action] : TYPICAL_RATE[policy.action])) * 1000 +
              estimatedBatches * policy.pauseMs,
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
