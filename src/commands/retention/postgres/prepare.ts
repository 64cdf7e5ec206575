import type { PoolClient } from '../../../connections/postgres/pool.js';
import { quoteQualified } from '../../../connections/postgres/quote.js';
import { ConfigError } from '../../../errors.js';
import type { RetentionPolicy } from '../policy.js';
import { describeTable, type TableInfo } from './introspect.js';
import {
  archiveColumns,
  buildBatchSql,
  chooseWalkMode,
  createArchiveTableSql,
  eligibilitySql,
  type BatchSql,
} from './sql.js';

export interface PreparedPolicy {
  table: TableInfo;
  sql: BatchSql;
  cutoff: string | null;
  /** The planner's estimate of the eligible rows (undefined when EXPLAIN failed). */
  estimate: number | undefined;
  walkReason: string;
  /** archive-table: the destination and the columns written. */
  archive: { sql: string; columns: string[] } | undefined;
}

/** Table, archive table, cutoff, estimate and the walk: what plan and run both start from. */
export async function preparePolicy(
  policy: RetentionPolicy,
  client: PoolClient,
  createArchive: (sql: string) => Promise<unknown>,
): Promise<PreparedPolicy & { archiveCreated: boolean }> {
  const table = await describeTable(client, policy.relation, policy.ageColumn, policy.name);
  if (!table)
    throw new ConfigError(`retention policy ${policy.name}: table ${policy.relation} does not exist`);
  let archive: { sql: string; columns: string[] } | undefined;
  let archiveCreated = false;
  if (policy.action === 'archive-table') {
    const name = policy.archiveTable!;
    let info = await describeTable(client, name, undefined, policy.name);
    if (!info) {
      await createArchive(createArchiveTableSql(name, table));
      archiveCreated = true;
      info = (await describeTable(client, name, undefined, policy.name))!;
    }
    archive = {
      sql: quoteQualified(name),
      columns: archiveColumns(table.columns, info.columns, policy.name, name),
    };
  }
  let cutoff: string | null = null;
  if (policy.ageColumn && policy.olderThanInterval) {
    const type = table.columns.find((c) => c.name === policy.ageColumn)!.type;
    // One cutoff for the whole run, computed by the server: rows inserted or aged in during
    // the run are not touched, and the archive holds exactly the rows eligible at the start.
    const { rows } = await client.query<{ cutoff: string }>(
      `select (now() - $1::interval)::${type}::text as cutoff`,
      [policy.olderThanInterval],
    );
    cutoff = rows[0]!.cutoff;
  }
  // The scan's row estimate (not count(*)'s: an aggregate's estimate is one row).
  const estimate = await estimateRows(
    client,
    `select from ${table.sql} t where ${eligibilitySql(policy, table)}`,
    cutoff,
  );
  const walk = chooseWalkMode(policy, table, estimate);
  const sql = buildBatchSql(policy, table, archive, walk.mode);
  return { table, sql, cutoff, estimate, walkReason: walk.reason, archive, archiveCreated };
}

async function estimateRows(
  client: PoolClient,
  eligibility: string,
  cutoff: string | null,
): Promise<number | undefined> {
  try {
    const { rows } = await client.query<{ 'QUERY PLAN': [{ Plan: { 'Plan Rows': number } }] }>(
      `explain (format json) ${eligibility}`,
      [cutoff],
    );
    return rows[0]?.['QUERY PLAN'][0]?.Plan['Plan Rows'];
  } catch {
    return undefined;
  }
}
