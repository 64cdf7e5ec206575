import { quoteIdent } from '../../../../connections/index.js';
import type { PgCheck } from '../context.js';
import { userSchemaFilter } from '../session.js';

/**
 * A foreign key is supported when some valid, non-partial index has the FK columns as its
 * leading key columns, in any order (pg-index-health foreign_keys_without_index).
 */
export const FK_MISSING_INDEX_SQL = `
select n.nspname as schema, t.relname as table, c.conname as constraint, t.reltuples::float8 as rows,
       (select array_agg(a.attname order by k.ord) from unnest(c.conkey) with ordinality k(attnum, ord)
          join pg_attribute a on a.attrelid = c.conrelid and a.attnum = k.attnum)::text[] as columns,
       c.confrelid::regclass::text as referenced
  from pg_constraint c
  join pg_class t on t.oid = c.conrelid
  join pg_namespace n on n.oid = t.relnamespace
 where c.contype = 'f' and ${userSchemaFilter('n')}
   and not exists (
     select 1 from pg_index x
      where x.indrelid = c.conrelid and x.indisvalid and x.indpred is null
        and (select array_agg(k.attnum order by k.attnum)
               from unnest(x.indkey::int2[]) with ordinality k(attnum, ord)
              where k.ord <= cardinality(c.conkey))
            = (select array_agg(a order by a) from unnest(c.conkey) a))
 order by 1, 2, 3`;

export const fkMissingIndexCheck: PgCheck = {
  id: 'fk.missing-index',
  async run(ctx) {
    const s = ctx.settings('fk.missing-index');
    const rows = await ctx.reader.query<{
      schema: string;
      table: string;
      constraint: string;
      rows: number;
      columns: string[];
      referenced: string;
    }>(FK_MISSING_INDEX_SQL, [ctx.excludeSchemas]);
    return {
      findings: rows
        .filter((r) => Math.max(0, Number(r.rows)) >= s.thresholds.minTableRows!)
        .map((r) => ({
          check: 'fk.missing-index' as const,
          severity: s.severity ?? 'warning',
          object: `${r.schema}.${r.table}.${r.constraint}`,
          value: r.columns.join(', '),
          threshold: 'an index starting with the key columns',
          message: `foreign key ${r.constraint} on ${r.schema}.${r.table} (${r.columns.join(', ')}) → ${r.referenced} has no supporting index`,
          fix: `CREATE INDEX CONCURRENTLY ON ${quoteIdent(r.schema)}.${quoteIdent(r.table)} (${r.columns.map(quoteIdent).join(', ')});`,
          evidence: { sql: FK_MISSING_INDEX_SQL, source: ctx.reader.node, values: { rows: Number(r.rows) } },
        })),
    };
  },
};
