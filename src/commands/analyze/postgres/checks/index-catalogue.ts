import { quoteIdent } from '../../../../connections/index.js';
import { userSchemaFilter, type SqlRunner } from '../session.js';

/** One row per index of the user schemas: everything the index checks compare. */
export interface IndexRow {
  schema: string;
  table: string;
  index: string;
  /** Creation order: of two identical indexes the newer one is reported. */
  oid: number;
  method: string;
  unique: boolean;
  primary: boolean;
  valid: boolean;
  /** Key columns only (INCLUDE columns are in `included`); null for an expression. */
  keys: (string | null)[];
  included: (string | null)[];
  opclasses: string[];
  collations: string[];
  options: number[];
  predicate: string | null;
  expressions: string | null;
  definition: string;
  size: number;
  backs_constraint: boolean;
  constraint_name: string | null;
}

export const INDEX_CATALOGUE_SQL = `
select n.nspname as schema, t.relname as table, i.relname as index, x.indexrelid::int8::float8 as oid, am.amname as method,
       x.indisunique as unique, x.indisprimary as primary, x.indisvalid and x.indisready as valid,
       (select array_agg(a.attname order by k.ord) from unnest(x.indkey::int2[]) with ordinality k(attnum, ord)
          left join pg_attribute a on a.attrelid = x.indrelid and a.attnum = k.attnum where k.ord <= x.indnkeyatts)::text[] as keys,
       (select array_agg(a.attname order by k.ord) from unnest(x.indkey::int2[]) with ordinality k(attnum, ord)
          left join pg_attribute a on a.attrelid = x.indrelid and a.attnum = k.attnum where k.ord > x.indnkeyatts)::text[] as included,
       x.indclass::oid[]::text[] as opclasses, x.indcollation::oid[]::text[] as collations,
       x.indoption::int2[] as options,
       pg_get_expr(x.indpred, x.indrelid) as predicate, pg_get_expr(x.indexprs, x.indrelid) as expressions,
       pg_get_indexdef(x.indexrelid) as definition, pg_relation_size(x.indexrelid)::float8 as size,
       con.conname is not null as backs_constraint, con.conname as constraint_name
  from pg_index x
  join pg_class i on i.oid = x.indexrelid
  join pg_class t on t.oid = x.indrelid
  join pg_namespace n on n.oid = t.relnamespace
  join pg_am am on am.oid = i.relam
  left join pg_constraint con on con.conindid = x.indexrelid and con.contype in ('p', 'u', 'x')
 where t.relkind in ('r', 'm', 'p') and ${userSchemaFilter('n')}
 order by n.nspname, t.relname, i.relname`;

export async function readIndexes(runner: SqlRunner, excludeSchemas: string[]): Promise<IndexRow[]> {
  const rows = await runner.query<IndexRow>(INDEX_CATALOGUE_SQL, [excludeSchemas]);
  for (const r of rows) {
    r.keys ??= [];
    r.included ??= [];
    r.size = Number(r.size);
    r.oid = Number(r.oid);
  }
  return rows;
}

export const indexObject = (r: { schema: string; table: string; index: string }) =>
  `${r.schema}.${r.table}.${r.index}`;

export const dropIndexSql = (r: { schema: string; index: string }) =>
  `DROP INDEX CONCURRENTLY ${quoteIdent(r.schema)}.${quoteIdent(r.index)};`;

export const columnsText = (cols: (string | null)[]) => cols.map((c) => c ?? '(expression)').join(', ');
