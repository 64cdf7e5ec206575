import type { PoolClient } from '../../../connections/postgres/pool.js';
import { quoteQualified } from '../../../connections/postgres/quote.js';
import { ConfigError } from '../../../errors.js';

export interface ColumnInfo {
  name: string;
  /** format_type(): the exact SQL type, used to cast keyset parameters. */
  type: string;
  notNull: boolean;
  generated: boolean;
  identity: boolean;
}

export interface TableInfo {
  oid: number;
  /** Quoted, qualified name. */
  sql: string;
  partitioned: boolean;
  columns: ColumnInfo[];
  primaryKey: string[];
  /** Is there a plain btree index whose first column is the age column? */
  ageIndexed: boolean;
  /**
   * Heap pages and live rows per page as of the last VACUUM/ANALYZE (0: unknown). Estimates, read
   * without locking the table: pg_relation_size would queue behind a held lock.
   */
  pages: number;
  rowsPerPage: number;
  /** TID range scans (`ctid >= … and ctid < …` read only those pages) need PostgreSQL 14. */
  tidRangeScans: boolean;
}

/** Live rows per heap page, for sizing page batches: 50 for a table never vacuumed or analyzed. */
export function rowsPerPageOf(table: TableInfo): number {
  return table.rowsPerPage > 0 ? table.rowsPerPage : 50;
}

/** Looks a table up by its config name; a missing table is a config problem (exit 2). */
export async function describeTable(
  client: PoolClient,
  name: string,
  ageColumn: string | undefined,
  policy: string,
): Promise<TableInfo | undefined> {
  const sql = quoteQualified(name);
  const { rows } = await client.query<{
    oid: number;
    relkind: string;
    reltuples: number;
    relpages: number;
    version: number;
  }>(
    `select c.oid::int as oid, c.relkind::text as relkind,
            c.reltuples::float8 as reltuples, c.relpages::int as relpages,
            current_setting('server_version_num')::int as version
       from pg_catalog.pg_class c where c.oid = to_regclass($1)`,
    [sql],
  );
  const rel = rows[0];
  if (!rel) return undefined;
  if (rel.relkind !== 'r' && rel.relkind !== 'p') {
    throw new ConfigError(`retention policy ${policy}: ${name} is not a table`);
  }
  const columns = await client.query<{
    name: string;
    type: string;
    notnull: boolean;
    generated: boolean;
    identity: boolean;
  }>(
    `select attname as name, format_type(atttypid, atttypmod) as type, attnotnull as notnull,
            attgenerated <> '' as generated, attidentity <> '' as identity
       from pg_catalog.pg_attribute
      where attrelid = $1 and attnum > 0 and not attisdropped
      order by attnum`,
    [rel.oid],
  );
  const pk = await client.query<{ name: string }>(
    `select a.attname as name
       from pg_catalog.pg_index i
       cross join lateral unnest(i.indkey) with ordinality k(attnum, ord)
       join pg_catalog.pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.attnum
      where i.indrelid = $1 and i.indisprimary
      order by k.ord`,
    [rel.oid],
  );
  let ageIndexed = false;
  if (ageColumn) {
    const idx = await client.query<{ ok: boolean }>(
      `select exists (
         select 1 from pg_catalog.pg_index i
           join pg_catalog.pg_class ic on ic.oid = i.indexrelid
           join pg_catalog.pg_am am on am.oid = ic.relam
           join pg_catalog.pg_attribute a on a.attrelid = i.indrelid and a.attnum = i.indkey[0]
          where i.indrelid = $1 and am.amname = 'btree' and i.indpred is null and a.attname = $2
       ) as ok`,
      [rel.oid, ageColumn],
    );
    ageIndexed = idx.rows[0]?.ok ?? false;
  }
  return {
    oid: rel.oid,
    sql,
    partitioned: rel.relkind === 'p',
    columns: columns.rows.map((c) => ({
      name: c.name,
      type: c.type,
      notNull: c.notnull,
      generated: c.generated,
      identity: c.identity,
    })),
    primaryKey: pk.rows.map((r) => r.name),
    ageIndexed,
    pages: Math.max(rel.relpages, 0),
    rowsPerPage: rel.relpages > 0 && rel.reltuples > 0 ? rel.reltuples / rel.relpages : 0,
    tidRangeScans: rel.version >= 140000,
  };
}
