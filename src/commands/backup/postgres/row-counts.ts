import type { PoolClient } from '../../../connections/postgres/pool.js';
import { quoteIdent } from '../../../connections/postgres/quote.js';

/**
 * The tables whose rows a dump carries: ordinary tables outside the system schemas, minus tables that
 * belong to an extension (pg_dump skips their data). Partitioned parents hold no rows of their own;
 * their leaf partitions are ordinary tables and are counted.
 */
export const USER_TABLES_SQL = `
  select n.nspname as schema, c.relname as name
  from pg_catalog.pg_class c
  join pg_catalog.pg_namespace n on n.oid = c.relnamespace
  where c.relkind = 'r'
    and n.nspname <> 'information_schema'
    and n.nspname !~ '^pg_'
    and not exists (
      select 1 from pg_catalog.pg_depend d
      where d.classid = 'pg_catalog.pg_class'::regclass and d.objid = c.oid and d.deptype = 'e')
  order by 1, 2`;

/** `schema.table` → exact row count, as the client's snapshot sees them. */
export async function countRows(
  client: Pick<PoolClient, 'query'>,
  filter?: (schema: string, table: string) => boolean,
  signal?: AbortSignal,
): Promise<Record<string, number>> {
  const { rows } = await client.query<{ schema: string; name: string }>(USER_TABLES_SQL);
  const counts: Record<string, number> = {};
  for (const t of rows) {
    if (signal?.aborted) break;
    if (filter && !filter(t.schema, t.name)) continue;
    const r = await client.query<{ n: string }>(
      `select count(*)::text as n from ${quoteIdent(t.schema)}.${quoteIdent(t.name)}`,
    );
    counts[`${t.schema}.${t.name}`] = Number(r.rows[0]!.n);
  }
  return counts;
}

export interface RowCountDifference {
  table: string;
  expected: number | null;
  actual: number | null;
}

/** Tables whose counts differ (or that exist on one side only). */
export function compareRowCounts(
  expected: Record<string, number>,
  actual: Record<string, number>,
): RowCountDifference[] {
  const names = [...new Set([...Object.keys(expected), ...Object.keys(actual)])].sort();
  const out: RowCountDifference[] = [];
  for (const table of names) {
    const e = expected[table] ?? null;
    const a = actual[table] ?? null;
    if (e !== a) out.push({ table, expected: e, actual: a });
  }
  return out;
}
