import { quoteIdent } from '../../../../connections/index.js';
import type { Finding } from '../../types.js';
import type { PgCheck } from '../context.js';
import { userSchemaFilter } from '../session.js';

/**
 * Both limits (PgHero + pg-index-health): the sequence's own range, and the type of the column
 * it feeds (an integer column fed by a bigint sequence ends at 2^31 − 1).
 */
export const SEQUENCE_SQL = `
select n.nspname as schema, c.relname as sequence, s.seqmin::float8 as min, s.seqmax::float8 as max,
       s.seqincrement::float8 as increment, s.seqcycle as cycle, ps.last_value::float8 as last_value,
       tn.nspname as table_schema, t.relname as table, a.attname as column,
       a.atttypid::regtype::text as column_type
  from pg_sequence s
  join pg_class c on c.oid = s.seqrelid
  join pg_namespace n on n.oid = c.relnamespace
  left join pg_sequences ps on ps.schemaname = n.nspname and ps.sequencename = c.relname
  left join pg_depend d on d.objid = s.seqrelid and d.classid = 'pg_class'::regclass
        and d.refclassid = 'pg_class'::regclass and d.deptype in ('a', 'i')
  left join pg_class t on t.oid = d.refobjid
  left join pg_namespace tn on tn.oid = t.relnamespace
  left join pg_attribute a on a.attrelid = d.refobjid and a.attnum = d.refobjsubid
 where ${userSchemaFilter('n')}`;

const typeMax: Record<string, number> = {
  smallint: 32767,
  integer: 2147483647, // 2^63 − 1 rounds to 2^63 as a double; close enough for a percentage.
  bigint: 2 ** 63,
};

export function sequenceUsedPct(r: {
  min: number;
  max: number;
  increment: number;
  cycle: boolean;
  last_value: number | null;
  column_type: string | null;
}): { pct: number; limit: 'sequence' | 'column' } | undefined {
  if (r.last_value === null) return undefined;
  const last = Number(r.last_value);
  const min = Number(r.min);
  const max = Number(r.max);
  const asc = Number(r.increment) > 0;
  let best: { pct: number; limit: 'sequence' | 'column' } | undefined;
  if (!r.cycle) {
    const pct = asc ? (100 * (last - min)) / (max - min) : (100 * (max - last)) / (max - min);
    best = { pct, limit: 'sequence' };
  }
  const colMax = r.column_type ? typeMax[r.column_type] : undefined;
  if (colMax !== undefined && asc) {
    const pct = (100 * last) / colMax;
    if (!best || pct > best.pct) best = { pct, limit: 'column' };
  }
  return best;
}

export const sequenceOverflowCheck: PgCheck = {
  id: 'seq.overflow',
  async run(ctx) {
    const s = ctx.settings('seq.overflow');
    const rows = await ctx.reader.query(SEQUENCE_SQL, [ctx.excludeSchemas]);
    const findings: Finding[] = [];
    for (const r of rows) {
      const used = sequenceUsedPct(r as never);
      if (!used || used.pct < s.thresholds.warningPct!) continue;
      const severity = s.severity ?? (used.pct >= s.thresholds.errorPct! ? 'error' : 'warning');
      const column = r.table ? `${r.table_schema}.${r.table}.${r.column} (${r.column_type})` : undefined;
      findings.push({
        check: 'seq.overflow',
        severity,
        object: `${r.schema}.${r.sequence}`,
        value: Math.round(used.pct * 100) / 100,
        threshold: severity === 'error' ? s.thresholds.errorPct! : s.thresholds.warningPct!,
        unit: '% used',
        message: `sequence ${r.schema}.${r.sequence} is ${used.pct.toFixed(1)} % through the range of its ${used.limit === 'column' ? `column ${column}` : 'own type'} (last value ${Number(r.last_value)})`,
        fix: column
          ? `ALTER TABLE ${quoteIdent(r.table_schema)}.${quoteIdent(r.table)} ALTER COLUMN ${quoteIdent(r.column)} TYPE bigint;\nALTER SEQUENCE ${quoteIdent(r.schema)}.${quoteIdent(r.sequence)} AS bigint;`
          : `ALTER SEQUENCE ${quoteIdent(r.schema)}.${quoteIdent(r.sequence)} AS bigint;`,
        evidence: {
          sql: SEQUENCE_SQL,
          source: ctx.reader.node,
          values: {
            lastValue: Number(r.last_value),
            min: Number(r.min),
            max: Number(r.max),
            column,
            limit: used.limit,
          },
        },
      });
    }
    return { findings };
  },
};
