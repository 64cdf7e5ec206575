import { quoteIdent } from '../../../../connections/index.js';
import type { AnalyzeCheckId } from '../../../../config/sections/analyze.js';
import type { Finding } from '../../types.js';
import type { PgCheck, PgCheckContext } from '../context.js';
import { num, userSchemaFilter } from '../session.js';

/**
 * Statistical estimates in the style of ioguix/pgexperts: the size the rows should take
 * (pg_stats widths and null fractions, tuple header, MAXALIGN, fillfactor) against relpages.
 * Relations whose columns lack pg_stats rows (never analyzed) are skipped, not guessed.
 */
export const TABLE_BLOAT_SQL = `
with t as (
  select n.nspname as schema, c.relname as table, c.reltuples::float8 as tuples, c.relpages::float8 as pages,
         coalesce((select substring(o from 'fillfactor=([0-9]+)')::int from unnest(c.reloptions) o
                    where o like 'fillfactor=%'), 100) as fillfactor,
         current_setting('block_size')::float8 as bs,
         (select count(*) from pg_attribute a where a.attrelid = c.oid and a.attnum > 0 and not a.attisdropped) as ncols,
         (select count(*) from pg_stats s where s.schemaname = n.nspname and s.tablename = c.relname and not s.inherited) as nstats,
         (select coalesce(sum((1 - s.null_frac) * s.avg_width), 0) from pg_stats s
           where s.schemaname = n.nspname and s.tablename = c.relname and not s.inherited) as width,
         (select coalesce(bool_or(s.null_frac > 0), false) from pg_stats s
           where s.schemaname = n.nspname and s.tablename = c.relname and not s.inherited) as nulls
    from pg_class c join pg_namespace n on n.oid = c.relnamespace
   where c.relkind = 'r' and c.relpages > 10 and ${userSchemaFilter('n')}
)
select schema, "table", pages, tuples, bs,
       ceil(tuples / greatest(1, floor((bs - 24) * fillfactor / 100.0
            / (8 * ceil((23 + case when nulls then ceil(ncols / 8.0) else 0 end) / 8.0) + 8 * ceil(width / 8.0) + 4)))) as expected
  from t where nstats >= ncols and tuples > 0`;

export const INDEX_BLOAT_SQL = `
select n.nspname as schema, t.relname as table, i.relname as index, i.relpages::float8 as pages,
       i.reltuples::float8 as tuples, current_setting('block_size')::float8 as bs,
       1 + ceil(i.reltuples * (12 + 8 * ceil(coalesce((
         select sum((1 - s.null_frac) * s.avg_width) from pg_attribute a
           join pg_stats s on s.schemaname = n.nspname and s.tablename = t.relname and s.attname = a.attname and not s.inherited
          where a.attrelid = i.oid), 0) / 8.0)) / ((current_setting('block_size')::float8 - 40) * 0.9)) as expected
  from pg_index x
  join pg_class i on i.oid = x.indexrelid
  join pg_class t on t.oid = x.indrelid
  join pg_namespace n on n.oid = t.relnamespace
  join pg_am am on am.oid = i.relam
 where am.amname = 'btree' and x.indexprs is null and x.indpred is null and i.relpages > 10
   and i.reltuples > 0 and ${userSchemaFilter('n')}`;

function bloatFindings(
  ctx: PgCheckContext,
  id: AnalyzeCheckId,
  rows: Record<string, unknown>[],
  sql: string,
  objectOf: (r: Record<string, unknown>) => string,
  fixOf: (r: Record<string, unknown>) => string,
): Finding[] {
  const s = ctx.settings(id);
  const out: Finding[] = [];
  for (const r of rows) {
    const pages = num(r.pages);
    const expected = num(r.expected);
    const wasted = Math.max(0, pages - expected) * num(r.bs);
    const pct = pages ? (100 * Math.max(0, pages - expected)) / pages : 0;
    if (pct < s.thresholds.minBloatPct! || wasted < s.thresholds.minWastedBytes!) continue;
    out.push({
      check: id,
      severity: s.severity ?? 'warning',
      object: objectOf(r),
      value: Math.round(pct * 10) / 10,
      threshold: s.thresholds.minBloatPct!,
      unit: '% bloat (estimate)',
      message: `${objectOf(r)}: about ${pct.toFixed(0)} % bloat, ${Math.round(wasted / 1048576)} MiB wasted (estimate)`,
      fix: fixOf(r),
      evidence: {
        sql,
        source: ctx.primary.node,
        values: { pages, expectedPages: expected, wastedBytes: wasted },
      },
    });
  }
  return out;
}

export const tableBloatCheck: PgCheck = {
  id: 'table.bloat',
  async run(ctx) {
    const rows = await ctx.primary.query(TABLE_BLOAT_SQL, [ctx.excludeSchemas]);
    return {
      findings: bloatFindings(
        ctx,
        'table.bloat',
        rows,
        TABLE_BLOAT_SQL,
        (r) => `${r.schema}.${r.table}`,
        (r) =>
          `pg_repack --table ${quoteIdent(String(r.schema))}.${quoteIdent(String(r.table))}   # or VACUUM FULL in a window`,
      ),
    };
  },
};

export const indexBloatCheck: PgCheck = {
  id: 'index.bloat',
  async run(ctx) {
    const rows = await ctx.primary.query(INDEX_BLOAT_SQL, [ctx.excludeSchemas]);
    return {
      findings: bloatFindings(
        ctx,
        'index.bloat',
        rows,
        INDEX_BLOAT_SQL,
        (r) => `${r.schema}.${r.table}.${r.index}`,
        (r) => `REINDEX INDEX CONCURRENTLY ${quoteIdent(String(r.schema))}.${quoteIdent(String(r.index))};`,
      ),
    };
  },
};
